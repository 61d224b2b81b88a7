import type { VoxtralOnnxOptions } from './voxtral-onnx.js';

/** What a model worker is started with (its workerData). */
export interface ModelWorkerSetup {
  readonly model: Omit<VoxtralOnnxOptions, 'onProgress'>;
  readonly maxUtteranceMs: number;
}

/** The main thread to a model worker: one generation at a time, by id. */
export type ToModelWorker =
  | { readonly type: 'start'; readonly id: number }
  | { readonly type: 'audio'; readonly id: number; readonly samples: Float32Array }
  | { readonly type: 'end'; readonly id: number }
  | { readonly type: 'cancel'; readonly id: number }
  | { readonly type: 'dispose' };

/** A model worker to the main thread. */
export type FromModelWorker =
  | {
      readonly type: 'progress';
      readonly file: string;
      readonly percent: number;
      readonly loaded: number;
      readonly total: number;
    }
  | { readonly type: 'loaded' }
  /** `detail`: the VL_ERR_MODEL_UNAVAILABLE detail; `reason`: the library's own words (its causes). */
  | { readonly type: 'load-failed'; readonly detail: string; readonly reason: string }
  | { readonly type: 'delta'; readonly id: number; readonly delta: string }
  | { readonly type: 'done'; readonly id: number; readonly computeMs: number; readonly audioMs: number }
  | { readonly type: 'cancelled'; readonly id: number }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }
  | { readonly type: 'disposed' };
