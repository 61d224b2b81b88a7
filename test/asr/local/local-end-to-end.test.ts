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

const local = (maxStreams: string) => ({
  ASR_ENGINE: 'local',
  LOCAL_MODEL_PATH: TINY,
  LOCAL_DTYPE: 'fp32',
  LOCAL_MAX_STREAMS: maxStreams,
});

describe('a two-leg call through the in-process engine (tiny model)', () => {
  it('is the engine when nothing else is configured', () => {
    expect(loadConfig({}).asr.engine).toBe('local');
  });

  it('transcribes both legs into the transcript API, speaker-labelled, on the call clock', async () => {
    gateway = await startGateway(local('2'));
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
  }, 60_000);

  it('with LOCAL_MAX_STREAMS=1, the second leg gets capacity_exceeded while the call and the first leg go on', async () => {
    gateway = await startGateway(local('1'));
    const result = await playDemo(gateway, 'greeting', { pace: 'fast' });
    const { utterances, errors } = await transcriptOf(gateway, result.callSid);
    expect(errors).toEqual([expect.objectContaining({ speaker: 'agent', code: 'capacity_exceeded' })]);
    expect(utterances.filter((u) => u.speaker === 'caller').length).toBeGreaterThan(0);
    expect(utterances.filter((u) => u.speaker === 'agent')).toEqual([]);
    const call = await gateway.call(result.callSid);
    expect(call.legs.map((l) => [l.label, l.audioSeconds])).toEqual([
      ['caller', 5],
      ['agent', 5],
    ]);
  }, 60_000);
});
