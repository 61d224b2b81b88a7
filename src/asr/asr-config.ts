import { type Static, Type } from '@sinclair/typebox';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';
import type { MatMulAccuracy } from './local/matmul-accuracy.js';
import type { MistralAudioFormat } from './mistral/mistral-protocol.js';

const Ms = (min: number, max: number, value: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: value, description });

export const DEFAULT_VLLM_MODEL = 'mistralai/Voxtral-Mini-4B-Realtime-2602';
export const DEFAULT_MISTRAL_MODEL = 'voxtral-mini-transcribe-realtime-2602';
export const DEFAULT_LOCAL_MODEL = 'onnx-community/Voxtral-Mini-4B-Realtime-2602-ONNX';

/** Speech-to-text settings (part of EnvSchema; docs/configuration.md lists them). */
export const AsrEnvProperties = {
  ASR_ENGINE: Type.Optional(
    Type.Union([Type.Literal('none'), Type.Literal('local'), Type.Literal('vllm'), Type.Literal('mistral')], {
      description:
        'speech engine; default vllm if VLLM_URL is set, else mistral if MISTRAL_API_KEY is, else local (in-process)',
    }),
  ),
  VLLM_URL: Type.Optional(
    Type.String({ minLength: 1, description: 'vLLM base URL(s), comma-separated, e.g. http://gpu-1:8000' }),
  ),
  VLLM_API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'vLLM --api-key, if it has one' })),
  VLLM_MODEL: Type.String({
    minLength: 1,
    default: DEFAULT_VLLM_MODEL,
    description: 'model name vLLM serves',
  }),
  MISTRAL_API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'Mistral API key' })),
  MISTRAL_URL: Type.String({
    minLength: 1,
    default: 'https://api.mistral.ai',
    description: 'Mistral API origin',
  }),
  MISTRAL_MODEL: Type.String({ minLength: 1, default: DEFAULT_MISTRAL_MODEL, description: 'hosted model' }),
  MISTRAL_AUDIO: Type.Union([Type.Literal('pcm16'), Type.Literal('mulaw')], {
    default: 'pcm16',
    description: 'send Mistral 16 kHz PCM16, or the carrier’s 8 kHz μ-law as is',
  }),
  MISTRAL_SESSION_MAX_MS: Ms(
    10_000,
    86_400_000,
    600_000,
    'a Mistral session’s age limit: a leg’s session is replaced between utterances once older than this less UTTERANCE_MAX_MS, so none reaches it (Mistral documents no limit; 10 min is a third under the 15 min its realtime client secrets last)',
  ),
  MISTRAL_MAX_SESSIONS: Type.Integer({
    minimum: 0,
    maximum: 100_000,
    default: 0,
    description:
      'Mistral sessions open at once, all legs of this process together (0: no cap); past it a leg waits its turn, its audio held up to ASR_BUFFER_MS',
  }),
  LOCAL_MODEL: Type.String({
    minLength: 1,
    default: DEFAULT_LOCAL_MODEL,
    description: 'local engine: Hugging Face model id of the ONNX export',
  }),
  LOCAL_MODEL_PATH: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'local engine: a folder holding the model (air-gapped; no download)',
    }),
  ),
  LOCAL_DTYPE: Type.Union(
    ['q4', 'q4f16', 'fp16', 'fp32'].map((d) => Type.Literal(d)),
    {
      default: 'q4',
      description: 'local engine: weights to load (q4 ≈ 3.2 GB for a CPU, q4f16 ≈ 2.8 GB for a GPU)',
    },
  ),
  LOCAL_DEVICE: Type.Union([Type.Literal('cpu'), Type.Literal('cuda')], {
    default: 'cpu',
    description: 'local engine: onnxruntime execution provider',
  }),
  LOCAL_INSTANCES: Type.Integer({
    minimum: 1,
    maximum: 16,
    default: 1,
    description:
      'local engine: models loaded (each runs one utterance at a time; every leg of every call shares them)',
  }),
  LOCAL_MATMUL_ACCURACY: Type.Union(
    ['default', '0', '1', '2', '3', '4'].map((d) => Type.Literal(d)),
    {
      default: 'default',
      description:
        'local engine: accuracy_level of the q4 export’s MatMulNBits nodes: 4 = int8 activations (faster on a CPU, slightly less precise; docs/benchmarks.md), 0 unset, 1 fp32, 2 fp16, 3 bf16; default leaves the export as it is. Set, voxline writes the rewritten graphs (a few MB) beside the originals as onnx/*.acc<level>.onnx and loads those; a LOCAL_MODEL_PATH it cannot write into gets copies, weights included, under HF_HOME/voxline-prepared',
    },
  ),
  LOCAL_THREADS: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 256,
      description:
        'local engine: onnxruntime intra-op threads of each model instance (default: onnxruntime’s, one per core); with several LOCAL_INSTANCES, cores / instances',
    }),
  ),
  LOCAL_THREAD_SPINNING: Type.Boolean({
    default: false,
    description:
      'local engine: whether onnxruntime’s idle threads spin-wait for work (onnxruntime’s own default is true). Off by default: each of the model’s graphs has its own thread pool, and a spinning pool holds its cores while the next graph runs, and from the event loop that carries the calls; with 8 or more threads, or several instances, off measured up to 3.6× faster (docs/benchmarks.md). On is 15–55 % faster with 2–4 threads and idle cores beside them',
  }),
  LOCAL_QUEUE_MAX_MS: Ms(
    10_000,
    7_200_000,
    600_000,
    'local engine: speech all calls together may hold waiting for the model (about 64 kB a second); past it new speech is dropped and reported',
  ),
  HF_HOME: Type.Optional(
    Type.String({ minLength: 1, description: 'local engine: model cache (default DATA_DIR/models)' }),
  ),
  HF_ENDPOINT: Type.String({
    minLength: 1,
    default: 'https://huggingface.co',
    description: 'local engine: where models download from (a mirror)',
  }),
  ASR_DELAY_MS: Ms(80, 2400, 480, 'Mistral target_streaming_delay_ms (vLLM: set in tekken.json)'),
  VAD_ENABLED: Type.Boolean({
    default: true,
    description: 'false sends all audio, cut only at UTTERANCE_MAX_MS',
  }),
  VAD_THRESHOLD: Type.Number({
    minimum: 0.05,
    maximum: 0.95,
    default: 0.5,
    description: 'speech probability',
  }),
  VAD_GATE_DBFS: Type.Number({
    minimum: -96,
    maximum: -20,
    default: -50,
    description:
      'between utterances, windows quieter than this (RMS, dB full scale) are silence without running the VAD model (the line noise of a phone call sits near −60 to −50)',
  }),
  VAD_SAMPLE_RATE: Type.Union([Type.Literal(16_000), Type.Literal(8_000)], {
    default: 16_000,
    description:
      'the rate the Silero VAD model runs at: 8000 takes every other sample of the 16 kHz audio (a telephone leg’s own 8 kHz samples) and costs the VAD worker less CPU per window (docs/engines.md)',
  }),
  VAD_MIN_SPEECH_MS: Ms(0, 5_000, 96, 'speech shorter than this does not open an utterance'),
  VAD_MIN_SILENCE_MS: Ms(32, 10_000, 500, 'silence that ends an utterance (hangover)'),
  VAD_PREROLL_MS: Ms(0, 2_000, 300, 'audio sent from before the detected speech start'),
  UTTERANCE_MAX_MS: Ms(1_000, 600_000, 60_000, 'an utterance is cut at this length'),
  ASR_BUFFER_MS: Ms(5_000, 1_200_000, 90_000, 'audio held per leg while the engine is unreachable'),
  ASR_CONNECT_TIMEOUT_MS: Ms(100, 120_000, 5_000, 'engine connection and probe timeout'),
  ASR_DONE_TIMEOUT_MS: Ms(100, 600_000, 15_000, 'wait for a final after an utterance ends'),
  ASR_APPEND_MS: Ms(
    0,
    1_000,
    80,
    'realtime engines (vLLM, Mistral): audio per append, at least; frames go out in groups of one model step (80 ms), the end of an utterance at once (0: every frame its own append)',
  ),
  ASR_PROBE_INTERVAL_MS: Ms(1_000, 3_600_000, 15_000, 'how often /readyz state is refreshed'),
};

const AsrEnv = Type.Object(AsrEnvProperties);
type AsrEnv = Static<typeof AsrEnv>;

export type AsrEngineName = 'none' | 'local' | 'vllm' | 'mistral';
export type LocalDtype = 'q4' | 'q4f16' | 'fp16' | 'fp32';

export interface AsrConfig {
  readonly engine: AsrEngineName;
  readonly vllm: {
    readonly urls: readonly string[];
    readonly apiKey: string | undefined;
    readonly model: string;
  };
  readonly mistral: {
    readonly baseUrl: string;
    readonly apiKey: string | undefined;
    readonly model: string;
    readonly audioFormat: MistralAudioFormat;
    readonly delayMs: number;
    /** A session's age limit in ms (MISTRAL_SESSION_MAX_MS). */
    readonly sessionMaxMs: number;
    /** Sessions open at once, all legs together (MISTRAL_MAX_SESSIONS); 0: no cap. */
    readonly maxSessions: number;
  };
  readonly local: {
    /** Model id, or a folder when `path` is set. */
    readonly model: string;
    readonly path: string | undefined;
    readonly dtype: LocalDtype;
    readonly device: 'cpu' | 'cuda';
    /** Loaded models the legs share (LOCAL_INSTANCES). */
    readonly instances: number;
    /** Speech all legs together may hold for the model, in ms (LOCAL_QUEUE_MAX_MS). */
    readonly maxQueuedMs: number;
    /** MatMulNBits accuracy_level to set (LOCAL_MATMUL_ACCURACY); undefined: the export's own. */
    readonly matmulAccuracy: MatMulAccuracy | undefined;
    /** onnxruntime intra-op threads per instance (LOCAL_THREADS); undefined: onnxruntime's. */
    readonly threads: number | undefined;
    /** Idle onnxruntime threads spin-wait (LOCAL_THREAD_SPINNING, off by default). */
    readonly threadSpinning: boolean;
    readonly cacheDir: string;
    readonly endpoint: string;
  };
  readonly vad: {
    readonly enabled: boolean;
    readonly threshold: number;
    readonly minSpeechMs: number;
    readonly minSilenceMs: number;
    readonly prerollMs: number;
    /** Between utterances, windows below this RMS (dBFS) skip the model (VAD_GATE_DBFS). */
    readonly gateDbfs: number;
    /** The rate the Silero model runs at (VAD_SAMPLE_RATE): 16 kHz, or every other sample at 8 kHz. */
    readonly sampleRate: 8000 | 16000;
  };
  readonly maxUtteranceMs: number;
  readonly limits: {
    readonly maxBufferMs: number;
    readonly connectTimeoutMs: number;
    readonly doneTimeoutMs: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    readonly appendMs: number;
  };
  readonly probeIntervalMs: number;
}

/** Builds the ASR section, with its problems and warnings for loadConfig to report. */
export function asrConfigFrom(e: AsrEnv, dataDir: string): ConfigPart<AsrConfig> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const urls = commaList(e.VLLM_URL);
  for (const url of urls) {
    if (!/^(https?|wss?):\/\/[^/]/.test(url) || !URL.canParse(url)) {
      problems.push(`VLLM_URL: ${JSON.stringify(url)} is not an http(s):// or ws(s):// URL`);
    }
  }
  if (!URL.canParse(e.MISTRAL_URL))
    problems.push(`MISTRAL_URL: not a URL (got ${JSON.stringify(e.MISTRAL_URL)})`);
  const engine: AsrEngineName =
    e.ASR_ENGINE ?? (urls.length > 0 ? 'vllm' : e.MISTRAL_API_KEY ? 'mistral' : 'local');
  if (engine === 'vllm' && urls.length === 0) problems.push('ASR_ENGINE=vllm needs VLLM_URL');
  if (engine === 'mistral' && !e.MISTRAL_API_KEY) problems.push('ASR_ENGINE=mistral needs MISTRAL_API_KEY');
  if (e.ASR_BUFFER_MS < e.UTTERANCE_MAX_MS + 5_000) {
    problems.push(
      `ASR_BUFFER_MS (${e.ASR_BUFFER_MS}) must hold a whole utterance plus 5 s: at least UTTERANCE_MAX_MS + 5000 (${e.UTTERANCE_MAX_MS + 5_000})`,
    );
  }
  if (engine === 'none') warnings.push('ASR_ENGINE=none: calls are not transcribed');
  if (!URL.canParse(e.HF_ENDPOINT))
    problems.push(`HF_ENDPOINT: not a URL (got ${JSON.stringify(e.HF_ENDPOINT)})`);
  if (
    engine === 'local' &&
    e.LOCAL_DEVICE === 'cpu' &&
    (e.LOCAL_DTYPE === 'q4f16' || e.LOCAL_DTYPE === 'fp16')
  ) {
    warnings.push(
      `LOCAL_DTYPE=${e.LOCAL_DTYPE} on the CPU: half-precision weights are meant for a GPU; q4 is the usual choice for a CPU`,
    );
  }
  if (engine === 'local' && e.LOCAL_MATMUL_ACCURACY !== 'default' && !e.LOCAL_DTYPE.startsWith('q4')) {
    warnings.push(
      `LOCAL_MATMUL_ACCURACY with LOCAL_DTYPE=${e.LOCAL_DTYPE}: only the 4-bit exports (q4, q4f16) have MatMulNBits nodes; it changes nothing`,
    );
  }
  if (engine === 'mistral' && e.UTTERANCE_MAX_MS > 25_000) {
    warnings.push(
      'ASR_ENGINE=mistral with UTTERANCE_MAX_MS over 25 s: the hosted API has been reported to time out (3804) on segments of about 30 s',
    );
  }
  if (engine === 'mistral' && e.UTTERANCE_MAX_MS > e.MISTRAL_SESSION_MAX_MS / 2) {
    warnings.push(
      `MISTRAL_SESSION_MAX_MS (${e.MISTRAL_SESSION_MAX_MS}) is under twice UTTERANCE_MAX_MS (${e.UTTERANCE_MAX_MS}): sessions are replaced at half their limit, and an utterance that long may still be on the wire at the limit (it is re-sent if the server cuts it)`,
    );
  }
  return {
    value: {
      engine,
      vllm: { urls, apiKey: e.VLLM_API_KEY, model: e.VLLM_MODEL },
      mistral: {
        baseUrl: e.MISTRAL_URL.replace(/\/+$/, ''),
        apiKey: e.MISTRAL_API_KEY,
        model: e.MISTRAL_MODEL,
        audioFormat: e.MISTRAL_AUDIO,
        delayMs: e.ASR_DELAY_MS,
        sessionMaxMs: e.MISTRAL_SESSION_MAX_MS,
        maxSessions: e.MISTRAL_MAX_SESSIONS,
      },
      local: {
        model: e.LOCAL_MODEL,
        path: e.LOCAL_MODEL_PATH,
        dtype: e.LOCAL_DTYPE as LocalDtype,
        device: e.LOCAL_DEVICE,
        instances: e.LOCAL_INSTANCES,
        maxQueuedMs: e.LOCAL_QUEUE_MAX_MS,
        matmulAccuracy:
          e.LOCAL_MATMUL_ACCURACY === 'default'
            ? undefined
            : (Number(e.LOCAL_MATMUL_ACCURACY) as MatMulAccuracy),
        threads: e.LOCAL_THREADS,
        threadSpinning: e.LOCAL_THREAD_SPINNING,
        cacheDir: e.HF_HOME ?? `${dataDir.replace(/\/+$/, '')}/models`,
        endpoint: e.HF_ENDPOINT.replace(/\/+$/, ''),
      },
      vad: {
        enabled: e.VAD_ENABLED,
        threshold: e.VAD_THRESHOLD,
        minSpeechMs: e.VAD_MIN_SPEECH_MS,
        minSilenceMs: e.VAD_MIN_SILENCE_MS,
        prerollMs: e.VAD_PREROLL_MS,
        gateDbfs: e.VAD_GATE_DBFS,
        sampleRate: e.VAD_SAMPLE_RATE,
      },
      maxUtteranceMs: e.UTTERANCE_MAX_MS,
      limits: {
        maxBufferMs: e.ASR_BUFFER_MS,
        connectTimeoutMs: e.ASR_CONNECT_TIMEOUT_MS,
        doneTimeoutMs: e.ASR_DONE_TIMEOUT_MS,
        appendMs: e.ASR_APPEND_MS,
        backoffBaseMs: 100,
        backoffMaxMs: 5_000,
      },
      probeIntervalMs: e.ASR_PROBE_INTERVAL_MS,
    },
    problems,
    warnings,
  };
}
