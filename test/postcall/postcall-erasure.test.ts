import { afterEach, describe, expect, it } from 'vitest';
import { MistralBatchDouble } from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/* Erasing a call stops its post-call work: nothing of it is written or sent afterwards. */

const TOKEN = 'postcall-erasure-token-0123456789';
const KEY = 'mk-erasure-key';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe('erasing a call while its refined transcript is being made', () => {
  it(
    'aborts the work: no document, no transcript.refined, no postcall.failed',
    { timeout: 60_000 },
    async () => {
      const call = demoCall('greeting');
      const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
      await vllm.listen();
      const batch = new MistralBatchDouble(KEY);
      await batch.listen();
      const receiver = new TestReceiver();
      const gateway = await startGateway({
        ADMIN_TOKEN: TOKEN,
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'call.ended,transcript.refined,postcall.failed',
        RECORDING_FORMAT: 'pcm16',
        POSTCALL_ENGINE: 'mistral',
        POSTCALL_BASE_URL: batch.url,
        POSTCALL_API_KEY: KEY,
      });
      cleanups.push(
        () => gateway.close(),
        async () => {
          await Promise.all([vllm.close(), batch.close(), receiver.close()]);
        },
      );
      batch.answer({ kind: 'hang' }); // the engine holds the first request: the work is under way
      const { callSid } = await playDemo(gateway, 'greeting');
      await batch.received(0);
      await eventually(() => expect(receiver.events.some((e) => e.type === 'call.ended')).toBe(true), 10_000);

      const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status).toBe(200);
      // The erasure returned only once the job had stopped: nothing is running or waiting.
      expect({
        running: gateway.app.postcall.queue.running,
        waiting: gateway.app.postcall.queue.waiting,
      }).toEqual({
        running: 0,
        waiting: 0,
      });
      const refined = await gateway.get(`/v1/calls/${callSid}/transcript?version=refined`, {
        authorization: `Bearer ${TOKEN}`,
      });
      expect(refined.status).toBe(404);
      expect(refined.body.error.code).toBe('VL_ERR_CALL_NOT_FOUND');
      expect(
        receiver.events.some((e) => e.type === 'transcript.refined' || e.type === 'postcall.failed'),
      ).toBe(false);
      expect(batch.requests).toHaveLength(1);
    },
  );
});
