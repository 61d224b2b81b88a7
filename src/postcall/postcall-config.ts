import { Type } from '@sinclair/typebox';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';
import { checkContextBias } from './context-bias.js';

export interface PostcallConfig {
  readonly engine: 'mistral' | 'openai';
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly model: string;
  readonly diarize: boolean;
  /** Terms sent as context bias on every call (a call's own `vocabulary` adds to them). */
  readonly contextBias: readonly string[];
  readonly concurrency: number;
  readonly queueMax: number;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly maxChunkMs: number;
}

const Int = (min: number, max: number, value: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: value, description });

/** After-the-call settings (part of EnvSchema; docs/configuration.md lists them). */
export const PostcallEnvProperties = {
  POSTCALL_ENGINE: Type.Union([Type.Literal('none'), Type.Literal('mistral'), Type.Literal('openai')], {
    default: 'none',
    description:
      'refined transcript after each recorded call: mistral (Voxtral Mini Transcribe, batch, diarized), openai (any OpenAI-compatible /v1/audio/transcriptions, e.g. vLLM), or none',
  }),
  POSTCALL_BASE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'the batch engine’s base URL (default https://api.mistral.ai for mistral; required for openai)',
    }),
  ),
  POSTCALL_API_KEY: Type.Optional(
    Type.String({ minLength: 1, description: 'its API key (mistral: MISTRAL_API_KEY when unset)' }),
  ),
  POSTCALL_MODEL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'batch model (default voxtral-mini-2602 for mistral; required for openai)',
    }),
  ),
  POSTCALL_DIARIZE: Type.Boolean({
    default: true,
    description:
      'ask for speakers inside each channel (mistral), e.g. two people on a speakerphone, a SIPREC mixed stream',
  }),
  POSTCALL_CONTEXT_BIAS: Type.String({
    default: '',
    description:
      'comma list of words or phrases every call is biased towards (names, products); a call adds its own with the `vocabulary` parameter',
  }),
  POSTCALL_CONCURRENCY: Int(1, 64, 2, 'recordings refined at once'),
  POSTCALL_QUEUE_MAX: Int(
    1,
    100_000,
    1_000,
    'calls waiting for post-call work; past it, a call is reported failed (queue_full)',
  ),
  POSTCALL_RETRIES: Int(
    0,
    20,
    4,
    'retries of a failed request (429, 5xx, network), after Retry-After or backoff',
  ),
  POSTCALL_TIMEOUT_MS: Int(5_000, 3_600_000, 300_000, 'one request to the batch engine'),
  POSTCALL_MAX_CHUNK_S: Int(
    30,
    10_800,
    600,
    'longest audio one request carries (and at most 24 MiB of WAV: 786 s at 16 kHz); longer channels are split at quiet points',
  ),
};

interface PostcallEnv {
  POSTCALL_ENGINE: 'none' | 'mistral' | 'openai';
  POSTCALL_BASE_URL?: string;
  POSTCALL_API_KEY?: string;
  POSTCALL_MODEL?: string;
  POSTCALL_DIARIZE: boolean;
  POSTCALL_CONTEXT_BIAS: string;
  POSTCALL_CONCURRENCY: number;
  POSTCALL_QUEUE_MAX: number;
  POSTCALL_RETRIES: number;
  POSTCALL_TIMEOUT_MS: number;
  POSTCALL_MAX_CHUNK_S: number;
  MISTRAL_API_KEY?: string;
}

/** `recorded`: RECORDING_FORMAT is not none (post-call work reads the recording). */
export function postcallConfigFrom(
  e: PostcallEnv,
  recorded: boolean,
): ConfigPart<PostcallConfig | undefined> {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (e.POSTCALL_ENGINE === 'none') return { value: undefined, problems, warnings };
  const mistral = e.POSTCALL_ENGINE === 'mistral';
  const baseUrl = e.POSTCALL_BASE_URL ?? (mistral ? 'https://api.mistral.ai' : undefined);
  const model = e.POSTCALL_MODEL ?? (mistral ? 'voxtral-mini-2602' : undefined);
  const apiKey = e.POSTCALL_API_KEY ?? (mistral ? e.MISTRAL_API_KEY : undefined);
  if (!baseUrl) problems.push('POSTCALL_ENGINE=openai needs POSTCALL_BASE_URL (e.g. http://vllm:8000/v1)');
  else if (!/^https?:\/\//.test(baseUrl))
    problems.push(`POSTCALL_BASE_URL: not an http(s) URL (got ${JSON.stringify(baseUrl)})`);
  if (!model) problems.push('POSTCALL_ENGINE=openai needs POSTCALL_MODEL (the model the server serves)');
  if (mistral && !apiKey)
    problems.push('POSTCALL_ENGINE=mistral needs POSTCALL_API_KEY (or MISTRAL_API_KEY)');
  const bias = checkContextBias(commaList(e.POSTCALL_CONTEXT_BIAS));
  problems.push(...bias.problems.map((p) => `POSTCALL_CONTEXT_BIAS: ${p}`));
  if (!recorded)
    warnings.push(
      'POSTCALL_ENGINE is set but RECORDING_FORMAT=none: post-call work needs the recording, so none is done',
    );
  return {
    value: {
      engine: e.POSTCALL_ENGINE,
      baseUrl: baseUrl ?? '',
      apiKey,
      model: model ?? '',
      diarize: e.POSTCALL_DIARIZE,
      contextBias: bias.terms,
      concurrency: e.POSTCALL_CONCURRENCY,
      queueMax: e.POSTCALL_QUEUE_MAX,
      retries: e.POSTCALL_RETRIES,
      timeoutMs: e.POSTCALL_TIMEOUT_MS,
      maxChunkMs: e.POSTCALL_MAX_CHUNK_S * 1000,
    },
    problems,
    warnings,
  };
}
