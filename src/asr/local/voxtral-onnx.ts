import { access, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { VoxlineError } from '../../errors.js';
import type { LocalDtype } from '../asr-config.js';
import type { MatMulAccuracy } from './matmul-accuracy.js';
import { prepareMatMulAccuracy } from './prepared-graphs.js';

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
  /**
   * LOCAL_MATMUL_ACCURACY: the accuracy_level set on every MatMulNBits node (4: int8 activations)
   * in a rewritten copy of the graphs; undefined loads the export as it is.
   */
  readonly matmulAccuracy?: MatMulAccuracy;
  /** LOCAL_THREADS: onnxruntime's intra-op threads for each of the model's sessions (default: its own). */
  readonly threads?: number;
  /** LOCAL_THREAD_SPINNING: whether idle intra-op threads spin-wait (default: onnxruntime's, yes). */
  readonly threadSpinning?: boolean;
  /** Download progress of each file, 0–100. */
  readonly onProgress?: (file: string, percent: number, loadedBytes: number, totalBytes: number) => void;
}

/** The export's graphs (transformers.js' session names for voxtral_realtime). */
export const VOXTRAL_GRAPHS = ['audio_encoder', 'embed_tokens', 'decoder_model_merged'] as const;

/** transformers.js' file suffix of each dtype: `onnx/<graph><suffix>.onnx`. */
export const DTYPE_SUFFIX: Readonly<Record<LocalDtype, string>> = {
  q4: '_q4',
  q4f16: '_q4f16',
  fp16: '_fp16',
  fp32: '',
};

/**
 * Where voxline keeps rewritten graphs with copies of their weights (LOCAL_MATMUL_ACCURACY with a
 * LOCAL_MODEL_PATH it cannot write into), under the model cache.
 */
export const PREPARED_FOLDER = 'voxline-prepared';

/** onnxruntime session options from LOCAL_THREADS and LOCAL_THREAD_SPINNING (undefined: none set). */
export function sessionOptionsOf(
  options: Pick<VoxtralOnnxOptions, 'threads' | 'threadSpinning'>,
): { intraOpNumThreads?: number; extra?: { session: { intra_op: { allow_spinning: string } } } } | undefined {
  const { threads, threadSpinning } = options;
  if (threads === undefined && threadSpinning === undefined) return undefined;
  return {
    ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
    ...(threadSpinning === undefined
      ? {}
      : { extra: { session: { intra_op: { allow_spinning: threadSpinning ? '1' : '0' } } } }),
  };
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
  const session_options = sessionOptionsOf(options);
  const modelOptions = {
    dtype: options.dtype,
    device: options.device,
    progress_callback,
    ...(session_options ? { session_options } : {}),
  };
  try {
    const processor = (await tf.VoxtralRealtimeProcessor.from_pretrained(id, {
      progress_callback,
    })) as unknown as VoxtralProcessor;
    let model: VoxtralModel;
    if (options.matmulAccuracy === undefined) {
      model = (await tf.VoxtralRealtimeForConditionalGeneration.from_pretrained(
        id,
        modelOptions,
      )) as unknown as VoxtralModel;
    } else {
      const source = options.path ? resolve(options.path) : join(options.cacheDir, options.model);
      if (!options.path && !(await downloaded(source, options.dtype))) {
        // Not in the cache yet: the library downloads the files as it loads them (with progress).
        const first = await tf.VoxtralRealtimeForConditionalGeneration.from_pretrained(id, modelOptions);
        await first.dispose();
      }
      const prepared = await prepareMatMulAccuracy({
        source,
        graphs: VOXTRAL_GRAPHS,
        suffix: DTYPE_SUFFIX[options.dtype],
        level: options.matmulAccuracy,
        root: join(options.cacheDir, PREPARED_FOLDER),
      });
      model = (await withGraphs(tf.env, source, id, prepared.files, () =>
        tf.VoxtralRealtimeForConditionalGeneration.from_pretrained(id, modelOptions),
      )) as unknown as VoxtralModel;
    }
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

/** The parts of transformers.js' `env` that withGraphs sets, and puts back. */
interface LibraryEnv {
  allowLocalModels: boolean;
  allowRemoteModels: boolean;
  localModelPath: string;
  useCustomCache: boolean;
  customCache: unknown;
}

/**
 * Runs `load` with transformers.js reading the model `id` from the folder `source` (nothing
 * downloaded) and each graph named in `files` from the path it maps to. transformers.js asks its
 * cache first, and a cache answer that is a string is the path it hands onnxruntime; every other
 * file is not in this cache and comes from the folder as usual.
 */
async function withGraphs<T>(
  env: LibraryEnv,
  source: string,
  id: string,
  files: ReadonlyMap<string, string>,
  load: () => Promise<T>,
): Promise<T> {
  const saved = { ...env };
  const pathOf = (request: unknown) => {
    const key = typeof request === 'string' ? request : (request as { url?: string })?.url;
    for (const [file, path] of files) if (key?.endsWith(`/onnx/${file}`)) return path;
    return undefined;
  };
  // `${localModelPath}${id}` is the folder: for a hub id, the download cache's copy of it.
  env.localModelPath = `${source.slice(0, source.length - id.length).replace(/\/*$/, '')}/`;
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.useCustomCache = true;
  env.customCache = { match: async (request: unknown) => pathOf(request), put: async () => undefined };
  try {
    return await load();
  } finally {
    Object.assign(env, {
      allowLocalModels: saved.allowLocalModels,
      allowRemoteModels: saved.allowRemoteModels,
      localModelPath: saved.localModelPath,
      useCustomCache: saved.useCustomCache,
      customCache: saved.customCache,
    });
  }
}

/**
 * Whether the hub cache folder holds the dtype's graphs and their external-data files (named as
 * transformers.js names them, from config.json's `transformers.js_config.use_external_data_format`).
 */
async function downloaded(folder: string, dtype: LocalDtype): Promise<boolean> {
  try {
    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')) as {
      'transformers.js_config'?: { use_external_data_format?: unknown };
    };
    const external = config['transformers.js_config']?.use_external_data_format;
    for (const graph of VOXTRAL_GRAPHS) {
      const file = `${graph}${DTYPE_SUFFIX[dtype]}.onnx`;
      const chunks =
        typeof external === 'object' && external !== null
          ? Number(
              (external as Record<string, unknown>)[file] ??
                (external as Record<string, unknown>)[graph] ??
                0,
            )
          : Number(external ?? 0);
      await access(join(folder, 'onnx', file));
      for (let i = 0; i < chunks; i++)
        await access(join(folder, 'onnx', `${file}_data${i === 0 ? '' : `_${i}`}`));
    }
    return true;
  } catch {
    return false;
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
