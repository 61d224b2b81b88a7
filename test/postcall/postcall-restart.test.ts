import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MistralBatchDouble } from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/*
 * A stop in the middle of post-call work loses none of it: the next process on the same DATA_DIR
 * picks the call up again, once; a call whose work is over is not done again.
 */

const KEY = 'mk-restart-key';
const call = demoCall('greeting');
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe('post-call work across a restart', () => {
  it(
    'is picked up again by the next process and finished once, and not again after that',
    { timeout: 90_000 },
    async () => {
      const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
      await vllm.listen();
      const batch = new MistralBatchDouble(KEY);
      await batch.listen();
      const receiver = new TestReceiver();
      const env = {
        DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-postcall-restart-')),
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'call.ended,transcript.refined,postcall.failed',
        RECORDING_FORMAT: 'pcm16',
        POSTCALL_ENGINE: 'mistral',
        POSTCALL_BASE_URL: batch.url,
        POSTCALL_API_KEY: KEY,
        SHUTDOWN_DRAIN_MS: '200',
      };
      let gateway: Gateway | undefined;
      cleanups.push(
        async () => gateway?.close(),
        async () => {
          await Promise.all([vllm.close(), batch.close(), receiver.close()]);
        },
      );
      // The engine takes the first request and never answers: the process stops with the work under way.
      batch.answer({ kind: 'hang' });
      gateway = await startGateway(env);
      const { callSid } = await playDemo(gateway, 'greeting');
      await batch.received(0);
      await gateway.close();
      gateway = undefined;
      expect(
        receiver.events.some((e) => e.type === 'transcript.refined' || e.type === 'postcall.failed'),
      ).toBe(false);

      // The next process answers: the call's work is done, announced once.
      batch.answerBy(() => ({
        kind: 'transcription',
        segments: [{ text: ' Hello world.', start: 0.3, end: 1.7, speaker_id: 'speaker_1' }],
      }));
      gateway = await startGateway(env);
      await eventually(
        () => expect(receiver.events.filter((e) => e.type === 'transcript.refined')).toHaveLength(1),
        20_000,
      );
      expect(receiver.events.find((e) => e.type === 'transcript.refined')?.callSid).toBe(callSid);
      await gateway.app.postcall.queue.idle();
      const sent = batch.requests.length;

      // Done is done: a third start finds nothing to pick up.
      await gateway.close();
      gateway = await startGateway(env);
      expect(
        await gateway.app.postcall.recover({
          instance: 'any',
          redaction: () => undefined,
          agentLabel: 'agent',
        }),
      ).toBe(0);
      await gateway.app.postcall.queue.idle();
      expect(batch.requests.length).toBe(sent);
      expect(receiver.events.filter((e) => e.type === 'transcript.refined')).toHaveLength(1);
    },
  );
});
