import { cp, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ModelInstance } from '../../../src/asr/local/model-instance.js';
import { loadVoxtralOnnx, sessionOptionsOf } from '../../../src/asr/local/voxtral-onnx.js';
import { spawnModelWorker } from '../../../src/asr/local/worker-instance.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { loadConfig } from '../../../src/config.js';
import { configError } from '../../helpers/config.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, playDemo } from '../../helpers/media.js';

/** The tiny random-weight model, with its q4 graphs (test/fixtures/tiny-voxtral/README.md). */
const TINY = new URL('../../fixtures/tiny-voxtral', import.meta.url).pathname;

/** A copy of the tiny model: voxline writes its rewritten graphs beside the originals. */
async function tinyCopy(under?: string): Promise<string> {
  const folder = under ?? (await mkdtemp(join(tmpdir(), 'voxline-tiny-')));
  await cp(TINY, folder, { recursive: true });
  return folder;
}

/** The greeting's caller sentence as 16 kHz floats, pushed 20 ms at a time, then the end of speech. */
async function transcribe(instance: ModelInstance): Promise<string[]> {
  const pcm = new Upsampler8to16().pushMulaw(demoCall('greeting').caller).subarray(1_900 * 16, 3_900 * 16);
  const deltas: string[] = [];
  const generation = instance.generate((delta) => deltas.push(delta));
  const frame = new Float32Array(320);
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    for (let i = 0; i < 320; i++) frame[i] = pcm[at + i] / 32768;
    generation.push(frame);
  }
  generation.end();
  await generation.done;
  return deltas;
}

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

describe('LOCAL_MATMUL_ACCURACY, LOCAL_THREADS, LOCAL_THREAD_SPINNING', () => {
  it('are read from the environment: accuracy and threads unset by default, spinning off', () => {
    expect(loadConfig({}).asr.local).toMatchObject({
      matmulAccuracy: undefined,
      threads: undefined,
      threadSpinning: false,
    });
    const set = loadConfig({
      LOCAL_MATMUL_ACCURACY: '4',
      LOCAL_THREADS: '4',
      LOCAL_THREAD_SPINNING: 'true',
    });
    expect(set.asr.local).toMatchObject({ matmulAccuracy: 4, threads: 4, threadSpinning: true });
    expect(loadConfig({ LOCAL_MATMUL_ACCURACY: '0' }).asr.local.matmulAccuracy).toBe(0);
    expect(loadConfig({ LOCAL_MATMUL_ACCURACY: 'default' }).asr.local.matmulAccuracy).toBeUndefined();
    expect(configError({ LOCAL_MATMUL_ACCURACY: '5' })).toContain('LOCAL_MATMUL_ACCURACY');
    expect(configError({ LOCAL_THREADS: '0' })).toContain('LOCAL_THREADS');
    expect(loadConfig({ LOCAL_MATMUL_ACCURACY: '4', LOCAL_DTYPE: 'fp32' }).warnings).toContain(
      'LOCAL_MATMUL_ACCURACY with LOCAL_DTYPE=fp32: only the 4-bit exports (q4, q4f16) have MatMulNBits nodes; it changes nothing',
    );
    expect(loadConfig({ LOCAL_MATMUL_ACCURACY: '4' }).warnings.join()).not.toContain('LOCAL_MATMUL_ACCURACY');
  });

  it('become onnxruntime session options only when set', () => {
    expect(sessionOptionsOf({})).toBeUndefined();
    expect(sessionOptionsOf({ threads: 2 })).toEqual({ intraOpNumThreads: 2 });
    expect(sessionOptionsOf({ threadSpinning: false })).toEqual({
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  });

  it('the q4 model at accuracy level 4, in a worker, from LOCAL_MODEL_PATH: one word per 80 ms, like level 0', async () => {
    const path = await tinyCopy();
    const cacheDir = await mkdtemp(join(tmpdir(), 'voxline-cache-'));
    const env = { LOCAL_MODEL_PATH: path, LOCAL_DTYPE: 'q4', HF_HOME: cacheDir, LOCAL_THREADS: '1' };
    const plain = await spawnModelWorker({ model: loadConfig(env).asr.local, maxUtteranceMs: 30_000 });
    const expected = await transcribe(plain);
    await plain.dispose();
    const fast = loadConfig({ ...env, LOCAL_MATMUL_ACCURACY: '4', LOCAL_THREAD_SPINNING: 'false' }).asr.local;
    const worker = await spawnModelWorker({ model: fast, maxUtteranceMs: 30_000 });
    const got = await transcribe(worker);
    expect(got.length).toBeGreaterThan(20);
    expect(got.length).toBe(expected.length);
    expect(got.join('').trim().length).toBeGreaterThan(0);
    await worker.dispose();
    // The rewritten graphs beside the originals; nothing copied into the cache.
    expect((await readdir(join(path, 'onnx'))).filter((f) => f.endsWith('.acc4.onnx')).sort()).toEqual([
      'audio_encoder_q4.acc4.onnx',
      'decoder_model_merged_q4.acc4.onnx',
      'embed_tokens_q4.acc4.onnx',
    ]);
    expect(await readdir(cacheDir)).toEqual([]);
  }, 60_000);

  it('onnxruntime is handed the rewritten graphs, with the session options', async () => {
    const path = await tinyCopy();
    const cacheDir = await mkdtemp(join(tmpdir(), 'voxline-cache-'));
    const create = vi.spyOn(ort.InferenceSession, 'create');
    try {
      const local = loadConfig({
        LOCAL_MODEL_PATH: path,
        LOCAL_DTYPE: 'q4',
        HF_HOME: cacheDir,
        LOCAL_MATMUL_ACCURACY: '4',
        LOCAL_THREADS: '2',
        LOCAL_THREAD_SPINNING: 'false',
      }).asr.local;
      const loaded = await loadVoxtralOnnx(local);
      const calls = create.mock.calls.map(([where, options]) => [String(where), options]);
      expect(calls.map(([where]) => where).sort()).toEqual(
        ['audio_encoder', 'decoder_model_merged', 'embed_tokens'].map((g) =>
          join(path, 'onnx', `${g}_q4.acc4.onnx`),
        ),
      );
      for (const [, options] of calls) {
        expect(options).toMatchObject({
          intraOpNumThreads: 2,
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        });
      }
      await loaded.model.dispose();
    } finally {
      create.mockRestore();
    }
  }, 60_000);

  it('from the download cache (a hub id, nothing fetched), the rewrite goes beside the cached graphs', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'voxline-cache-'));
    await tinyCopy(join(cacheDir, 'voxline-test', 'tiny-voxtral'));
    const local = loadConfig({
      LOCAL_MODEL: 'voxline-test/tiny-voxtral',
      LOCAL_DTYPE: 'q4',
      LOCAL_MATMUL_ACCURACY: '4',
      HF_HOME: cacheDir,
      HF_ENDPOINT: 'http://127.0.0.1:9', // nothing listens: a download would fail the test
    }).asr.local;
    const worker = await spawnModelWorker({ model: local, maxUtteranceMs: 30_000 });
    expect((await transcribe(worker)).length).toBeGreaterThan(20);
    await worker.dispose();
    const onnx = await readdir(join(cacheDir, 'voxline-test', 'tiny-voxtral', 'onnx'));
    expect(onnx).toContain('decoder_model_merged_q4.acc4.onnx');
  }, 60_000);

  it('a call through the gateway is transcribed with LOCAL_MATMUL_ACCURACY=4 on the q4 model', async () => {
    gateway = await startGateway({
      ASR_ENGINE: 'local',
      LOCAL_MODEL_PATH: await tinyCopy(),
      LOCAL_DTYPE: 'q4',
      LOCAL_MATMUL_ACCURACY: '4',
      LOCAL_THREADS: '1',
    });
    const result = await playDemo(gateway, 'greeting', { pace: 'fast' });
    const transcript = await eventually(async () => {
      const { body } = await (gateway as Gateway).get(`/v1/calls/${result.callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body as {
        utterances: { speaker: string; engine: string; words: unknown[] }[];
        errors: unknown[];
      };
    }, 30_000);
    expect(transcript.errors).toEqual([]);
    const caller = transcript.utterances.filter((u) => u.speaker === 'caller');
    expect(caller.length).toBeGreaterThan(0);
    expect(caller.every((u) => u.engine === 'local' && u.words.length > 0)).toBe(true);
  }, 60_000);
});
