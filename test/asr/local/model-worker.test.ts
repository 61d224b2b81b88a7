import { describe, expect, it } from 'vitest';
import { inThreadInstance, type ModelInstance } from '../../../src/asr/local/model-instance.js';
import { loadVoxtralOnnx } from '../../../src/asr/local/voxtral-onnx.js';
import { spawnModelWorker } from '../../../src/asr/local/worker-instance.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { isVoxlineError } from '../../../src/errors.js';
import { demoCall } from '../../helpers/media.js';

/** The tiny random-weight model under test/fixtures (same shape and config keys as the real one). */
const MODEL = {
  model: 'tiny',
  path: new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname,
  dtype: 'fp32' as const,
  device: 'cpu' as const,
  cacheDir: '/tmp/voxline-test-models',
  endpoint: 'https://huggingface.co',
};

/** The greeting's caller sentence as 16 kHz floats, pushed 20 ms at a time, then the end of speech. */
async function transcribe(instance: ModelInstance): Promise<{ deltas: string[]; audioMs: number }> {
  const pcm = new Upsampler8to16().pushMulaw(demoCall('greeting').caller).subarray(1_900 * 16, 3_900 * 16);
  const deltas: string[] = [];
  const generation = instance.generate((delta) => deltas.push(delta));
  const frame = new Float32Array(320);
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    for (let i = 0; i < 320; i++) frame[i] = pcm[at + i] / 32768;
    generation.push(frame); // the same buffer each time: the instance keeps its own copy
  }
  generation.end();
  const result = await generation.done;
  return { deltas, audioMs: result?.audioMs ?? 0 };
}

describe('the model in a worker thread (what voxline runs: onnxruntime blocks the thread it runs on)', () => {
  it('writes exactly what the same model writes on the main thread, step for step', async () => {
    const here = inThreadInstance(await loadVoxtralOnnx(MODEL), 30_000);
    const expected = await transcribe(here);
    await here.dispose();
    const worker = await spawnModelWorker({ model: MODEL, maxUtteranceMs: 30_000 });
    const got = await transcribe(worker);
    expect(got.deltas).toEqual(expected.deltas);
    expect(got.deltas.length).toBeGreaterThan(20);
    expect(got.audioMs).toBe(expected.audioMs);
    // Two utterances in a row on one worker, as the scheduler runs them.
    expect((await transcribe(worker)).deltas).toEqual(expected.deltas);
    expect(worker.usable).toBe(true);
    await worker.dispose();
    expect(worker.usable).toBe(false);
  }, 60_000);

  it('a cancelled generation settles undefined and the worker takes the next one', async () => {
    const worker = await spawnModelWorker({ model: MODEL, maxUtteranceMs: 30_000 });
    const generation = worker.generate(() => undefined);
    generation.push(new Float32Array(16_000));
    generation.cancel();
    expect(await generation.done).toBeUndefined();
    expect((await transcribe(worker)).deltas.length).toBeGreaterThan(20);
    await worker.dispose();
  }, 60_000);

  it('a model that cannot be loaded rejects with VL_ERR_MODEL_UNAVAILABLE and the library’s reason', async () => {
    const failed = await spawnModelWorker({
      model: { ...MODEL, path: '/nonexistent/voxtral-model' },
      maxUtteranceMs: 30_000,
    }).catch((err: unknown) => err);
    expect(isVoxlineError(failed, 'VL_ERR_MODEL_UNAVAILABLE')).toBe(true);
    expect((failed as Error).message).toMatch(/folder \/nonexistent\/voxtral-model/);
    expect(((failed as Error).cause as Error).message.length).toBeGreaterThan(0);
  }, 60_000);
});
