/** What the VAD worker is started with (its workerData). */
export interface VadWorkerSetup {
  /** A Silero VAD v5 ONNX file. */
  readonly modelPath: string;
  /** The rate the model runs at: windows of 512 samples + 64 of context at 16 kHz, 256 + 32 at 8 kHz. */
  readonly sampleRate: 8000 | 16000;
}

/**
 * The main thread to the VAD worker. A batch of `n` windows in the first elements of its two
 * buffers (sized for the largest batch, transferred, and sent back with the answer to be used
 * again): `input` is [n, 64 + 512] at 16 kHz, [n, 32 + 256] at 8 kHz (each window with its context in front), `state` [2, n, 128].
 */
export type ToVadWorker =
  | {
      readonly type: 'run';
      readonly id: number;
      readonly n: number;
      readonly input: Float32Array;
      readonly state: Float32Array;
    }
  | { readonly type: 'close' };

/** The VAD worker to the main thread. */
export type FromVadWorker =
  | { readonly type: 'loaded' }
  | { readonly type: 'load-failed'; readonly message: string }
  /**
   * `output`: [n] speech probabilities; `input` and `state`: the batch's buffers back, `state`
   * now holding the next state, [2, n, 128].
   */
  | {
      readonly type: 'result';
      readonly id: number;
      readonly output: Float32Array;
      readonly input: Float32Array;
      readonly state: Float32Array;
    }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }
  | { readonly type: 'closed' };
