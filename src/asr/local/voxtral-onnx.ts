import { basename, dirname, resolve } from 'node:path';
import { VoxlineError } from '../../errors.js';
import type { LocalDtype } from '../asr-config.js';

/** Where and how to load the ONNX export of Voxtral Realtime. */
export interface VoxtralOnnxOptions {
  /** Hugging Face model id (downloaded on first use), unless `path` is set. */
  readonly model: string;
  /** A folder holding the model: nothing is downloaded. */
  readonly path: string | undefined;
  readonly dtype: LocalDtype;
  readonly device: 'cpu' | 'cuda';
  readonly cacheDir: string;
  /** Hub origin (HF_ENDPOINT), e.g. a mirror. */
  readonly endpoint: string;
  /** Download progress of each file, 0–100. */
  readonly onProgress?: (file: string, percent: number, loadedBytes: number, totalBytes: number) => void;
}

/** A tensor as transformers.js gives it: enough of it for streaming. */
export interface FeatureTensor {
  readonly dims: readonly number[];
}

/** The parts of transformers.js' VoxtralRealtimeProcessor that streaming uses. */
export interface VoxtralProcessor {
  (
    audio: Float32Array,
    options: { is_streaming: boolean; is_first_audio_chunk: boolean },
  ): Promise<{
    input_ids?: FeatureTensor;
    input_features: FeatureTensor;
  }>;
  readonly num_samples_first_audio_chunk: number;
  readonly num_samples_per_audio_chunk: number;
  readonly num_mel_frames_first_audio_chunk: number;
  readonly num_right_pad_tokens: number;
  readonly raw_audio_length_per_tok: number;
  readonly feature_extractor: { readonly config: { readonly hop_length: number; readonly n_fft: number } };
  readonly tokenizer: { decode(ids: bigint[], options: { skip_special_tokens: boolean }): string };
}

export interface TokenStreamer {
  put(value: bigint[][]): void;
  end(): void;
}

/** The parts of VoxtralRealtimeForConditionalGeneration that streaming uses. */
export interface VoxtralModel {
  generate(options: {
    input_ids: FeatureTensor;
    input_features: AsyncIterable<FeatureTensor>;
    max_new_tokens: number;
    streamer: TokenStreamer;
  }): Promise<unknown>;
  dispose(): Promise<unknown>;
}

export interface LoadedVoxtral {
  readonly processor: VoxtralProcessor;
  readonly model: VoxtralModel;
  /** Wraps a callback object as the library's streamer class expects. */
  readonly streamer: (put: (ids: bigint[]) => void) => TokenStreamer;
}

/**
 * Loads Voxtral Realtime's ONNX export through transformers.js (@huggingface/transformers) on
 * onnxruntime-node: the processor (mel features, tokenizer) and the three graphs. The library is
 * imported on first use, so deployments on a vLLM or Mistral engine never load it. Its settings
 * (cache folder, hub, local folder) are process-wide in the library; every load sets them alike.
 */
export async function loadVoxtralOnnx(options: VoxtralOnnxOptions): Promise<LoadedVoxtral> {
  const tf = await import('@huggingface/transformers');
  tf.env.cacheDir = options.cacheDir;
  tf.env.remoteHost = `${options.endpoint}/`;
  let id = options.model;
  if (options.path) {
    const folder = resolve(options.path);
    tf.env.localModelPath = `${dirname(folder)}/`;
    tf.env.allowLocalModels = true;
    tf.env.allowRemoteModels = false;
    id = basename(folder);
  } else {
    tf.env.allowLocalModels = false;
    tf.env.allowRemoteModels = true;
  }
  const progress_callback = (info: {
    status: string;
    file?: string;
    progress?: number;
    loaded?: number;
    total?: number;
  }) => {
    if (info.status === 'progress' && info.file && options.onProgress) {
      options.onProgress(info.file, info.progress ?? 0, info.loaded ?? 0, info.total ?? 0);
    }
  };
  const where = options.path ? `folder ${options.path}` : `${id} from ${options.endpoint}`;
  try {
    const processor = (await tf.VoxtralRealtimeProcessor.from_pretrained(id, {
      progress_callback,
    })) as unknown as VoxtralProcessor;
    const model = (await tf.VoxtralRealtimeForConditionalGeneration.from_pretrained(id, {
      dtype: options.dtype,
      device: options.device,
      progress_callback,
    })) as unknown as VoxtralModel;
    const streamer = (put: (ids: bigint[]) => void): TokenStreamer => {
      const instance = new (class extends tf.BaseStreamer {
        override put(value: bigint[][]) {
          put(value[0] ?? []);
        }
        override end() {}
      })();
      return instance as unknown as TokenStreamer;
    };
    return { processor, model, streamer };
  } catch (err) {
    throw new VoxlineError(
      'VL_ERR_MODEL_UNAVAILABLE',
      `${where}: ${withoutRepeats((err as Error).message)}`,
      {
        cause: err,
      },
    );
  }
}

/** "fetch failed: fetch failed: ENOTFOUND" → "fetch failed: ENOTFOUND" (the library repeats its causes). */
export function withoutRepeats(message: string): string {
  const parts = message.split(': ');
  return parts.filter((part, i) => i === 0 || part !== parts[i - 1]).join(': ');
}

/** The library's own words for why a load failed (the VoxlineError around it repeats voxline's). */
export function loadFailureReason(err: unknown): string {
  const messages: string[] = [];
  // fetch() puts the network's reason (ENOTFOUND, ECONNREFUSED) in its cause, a level or two down.
  for (
    let e = (err as Error).cause ?? err, depth = 0;
    e instanceof Error && depth < 5;
    e = e.cause, depth++
  ) {
    messages.push(e.message);
  }
  return withoutRepeats(messages.join(': '));
}
