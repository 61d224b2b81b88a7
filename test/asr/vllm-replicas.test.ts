import { afterEach, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, freePort, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

const greeting = demoCall('greeting');
const reference = new ReferenceAudio([greeting]);
const doubles: VllmRealtimeDouble[] = [];
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  for (const d of doubles.splice(0)) await d.close();
});

async function replica(): Promise<VllmRealtimeDouble> {
  const d = new VllmRealtimeDouble({ reference });
  await d.listen();
  doubles.push(d);
  return d;
}

describe('several vLLM replicas', () => {
  it('spreads legs over the replicas, least busy first', async () => {
    const [a, b] = [await replica(), await replica()];
    gateway = await startGateway({ VLLM_URL: `${a.url},${b.url}` });
    const result = await playDemo(gateway, 'greeting');
    await eventually(async () => {
      expect((await gateway?.get(`/v1/calls/${result.callSid}/transcript`))?.body.complete).toBe(true);
    });
    expect([a.sessionsOpened, b.sessionsOpened]).toEqual([1, 1]);
  });

  it('fails over to a live replica when one is down, and /readyz names the dead one', async () => {
    const live = await replica();
    const dead = `http://127.0.0.1:${await freePort()}`;
    gateway = await startGateway({ VLLM_URL: `${dead},${live.url}` });
    const ready = await gateway.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.endpoints).toEqual([
      expect.objectContaining({ url: dead, state: 'down', detail: expect.stringContaining('ECONNREFUSED') }),
      expect.objectContaining({ url: live.url, state: 'up' }),
    ]);
    const result = await playDemo(gateway, 'greeting', { pace: 'realtime' });
    const transcript = await eventually(async () => {
      const { body } = await (gateway as Gateway).get(`/v1/calls/${result.callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 15_000);
    expect(transcript.utterances.map((u: { text: string }) => u.text)).toEqual(
      greeting.segments.map((s) => s.text),
    );
    expect(live.sessionsOpened).toBe(2);
  }, 30_000);
});
