import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { playDemo } from '../../helpers/media.js';

const TINY = new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname;
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

interface Transcript {
  complete: boolean;
  utterances: { speaker: string; engine: string; words: unknown[]; startMs: number }[];
  errors: { speaker: string; code: string }[];
}

async function transcriptOf(g: Gateway, callSid: string): Promise<Transcript> {
  return eventually(async () => {
    const { body } = await g.get(`/v1/calls/${callSid}/transcript`);
    expect(body.complete).toBe(true);
    return body as Transcript;
  }, 20_000);
}

const local = (instances?: string) => ({
  ASR_ENGINE: 'local',
  LOCAL_MODEL_PATH: TINY,
  LOCAL_DTYPE: 'fp32',
  ...(instances ? { LOCAL_INSTANCES: instances } : {}),
});

describe('a two-leg call through the in-process engine (tiny model)', () => {
  it('is the engine when nothing else is configured', () => {
    expect(loadConfig({}).asr.engine).toBe('local');
  });

  it('by default transcribes both legs on one shared model, speaker-labelled, on the call clock', async () => {
    gateway = await startGateway(local());
    await eventually(async () => expect((await gateway?.get('/readyz'))?.status).toBe(200), 10_000);
    const result = await playDemo(gateway, 'greeting', { pace: 'realtime' });
    const { utterances, errors } = await transcriptOf(gateway, result.callSid);
    expect(errors).toEqual([]);
    for (const speaker of ['caller', 'agent']) {
      const mine = utterances.filter((u) => u.speaker === speaker);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      for (const u of mine) {
        expect(u.engine).toBe('local');
        expect(u.words.length).toBeGreaterThan(0);
      }
    }
    const metrics = String((await gateway.get('/metrics')).body);
    expect(metrics).toMatch(/voxline_asr_real_time_factor_count\{engine="local"\} [1-9]/);
    const ready = (await gateway.get('/readyz')).body as { engines: { endpoints: { detail: string }[] }[] };
    expect(JSON.stringify(ready)).toContain('0/1 busy, 0 utterances waiting');
  }, 60_000);

  it("sent faster than real time, the legs' utterances queue for the one model and every one still gets its final", async () => {
    gateway = await startGateway(local('1'));
    const result = await playDemo(gateway, 'greeting', { pace: 'fast' });
    const { utterances, errors } = await transcriptOf(gateway, result.callSid);
    expect(errors).toEqual([]);
    expect(utterances.filter((u) => u.speaker === 'caller').length).toBeGreaterThan(0);
    expect(utterances.filter((u) => u.speaker === 'agent').length).toBeGreaterThan(0);
    const call = await gateway.call(result.callSid);
    expect(call.legs.map((l) => [l.label, l.audioSeconds])).toEqual([
      ['caller', 5],
      ['agent', 5],
    ]);
  }, 60_000);
});
