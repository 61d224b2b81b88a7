import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import OpenAI, { APIError, toFile } from 'openai';
import { type Clock, systemClock } from '../clock.js';
import { isVoxlineError, VoxlineError } from '../errors.js';
import {
  batchStatusError,
  ERROR_BODY_BYTES,
  errorBodyMessage,
  readText,
  retryAfterSeconds,
} from './batch-errors.js';
import type {
  BatchRequest,
  BatchSegment,
  BatchTranscriber,
  BatchTranscription,
  BatchWord,
} from './batch-transcription.js';
import { limitedFetch } from './limited-fetch.js';

export interface OpenAiBatchOptions {
  /** The API root, `/v1` included (e.g. http://vllm:8000/v1). */
  readonly baseUrl: string;
  /** None for a local server that asks for no key. */
  readonly apiKey?: string;
  readonly model: string;
  readonly timeoutMs: number;
  readonly maxChunkMs: number;
  readonly fetch?: typeof fetch;
  /** What the timeout and a Retry-After date run on; the system clock by default. */
  readonly clock?: Clock;
}

/**
 * Whisper reads the last 224 tokens of a prompt; the configured terms come first and matter most,
 * so the list is cut at whole terms well inside that.
 */
const MAX_PROMPT_CHARS = 800;

// verbose_json (OpenAI's TranscriptionVerbose; vLLM's answer sends `words: null` without them).
const Word = Type.Object({ word: Type.String(), start: Type.Number(), end: Type.Number() });
const Segment = Type.Object({ text: Type.String(), start: Type.Number(), end: Type.Number() });
const VerboseTranscription = Type.Object({
  text: Type.String(),
  language: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  duration: Type.Optional(Type.Number()),
  words: Type.Optional(Type.Union([Type.Array(Word), Type.Null()])),
  segments: Type.Optional(Type.Union([Type.Array(Segment), Type.Null()])),
});
const checkVerbose = TypeCompiler.Compile(VerboseTranscription);

/**
 * Any OpenAI-compatible `/v1/audio/transcriptions` (vLLM serving Voxtral Mini Transcribe, Whisper
 * servers, OpenAI) through the `openai` package, asking for verbose_json with word and segment
 * times. It has no diarization (every speakerId is null); context bias goes as the `prompt`. The
 * package never retries (maxRetries 0): retries are the post-call queue's, after Retry-After.
 */
export class OpenAiBatchTranscriber implements BatchTranscriber {
  readonly name = 'openai';
  readonly maxChunkMs: number;
  readonly #options: OpenAiBatchOptions;
  readonly #client: OpenAI;
  readonly #clock: Clock;
  /**
   * Error bodies by their response's headers (the APIError carries the same object): the package
   * keeps only a body's `error` key, and servers also answer `{"detail": …}` (FastAPI) or a
   * top-level `{"message": …}` (older vLLM).
   */
  readonly #errorBodies = new WeakMap<Headers, string>();

  constructor(options: OpenAiBatchOptions) {
    this.#options = options;
    this.maxChunkMs = options.maxChunkMs;
    this.#clock = options.clock ?? systemClock;
    const send = limitedFetch(options.fetch ?? fetch);
    this.#client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey ?? 'none',
      maxRetries: 0,
      timeout: options.timeoutMs,
      // Nothing from the environment: no OPENAI_ORG_ID/PROJECT_ID headers to a third-party server,
      // no OPENAI_LOG printing transcripts outside voxline's own (redacting) log.
      organization: null,
      project: null,
      webhookSecret: null,
      logLevel: 'off',
      fetch: async (url, init) => {
        const response = await send(url, init);
        if (!response.ok)
          this.#errorBodies.set(response.headers, (await readText(response.clone(), ERROR_BODY_BYTES)).text);
        return response;
      },
    });
  }

  async transcribe(request: BatchRequest, signal: AbortSignal): Promise<BatchTranscription> {
    signal.throwIfAborted();
    const o = this.#options;
    const deadline = new AbortController();
    const timer = this.#clock.setTimeout(() => deadline.abort(new Error('timeout')), o.timeoutMs);
    const prompt = promptOf(request.contextBias);
    let answer: unknown;
    try {
      answer = await this.#client.audio.transcriptions.create(
        {
          model: o.model,
          file: await toFile(request.wav, request.fileName, { type: 'audio/wav' }),
          response_format: 'verbose_json',
          timestamp_granularities: ['word', 'segment'],
          ...(prompt ? { prompt } : {}),
          ...(request.language ? { language: request.language } : {}),
        },
        { signal: AbortSignal.any([signal, deadline.signal]) },
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (deadline.signal.aborted) throw engineError(`no answer within ${o.timeoutMs} ms`, err);
      throw this.#errorOf(err);
    } finally {
      this.#clock.clearTimeout(timer);
    }
    return transcriptionOf(answer, o.model, request.durationMs);
  }

  #errorOf(err: unknown): VoxlineError {
    if (isVoxlineError(err)) return err;
    if (err instanceof APIError && err.status !== undefined) {
      const body = err.error ?? (err.headers ? this.#errorBodies.get(err.headers) : undefined);
      return batchStatusError(this.name, err.status, errorBodyMessage(body), {
        retryAfterS: retryAfterSeconds(err.headers?.get('retry-after'), this.#clock.wallNow()),
        secret: this.#options.apiKey,
        cause: err,
      });
    }
    if (err instanceof SyntaxError) return engineError('the answer is not JSON', err);
    // Connection errors, the package's own timeout.
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    const reason = (err as Error).message + (cause ? ` (${cause})` : '');
    return engineError(`${new URL(this.#options.baseUrl).origin}: ${reason}`, err);
  }
}

/** The terms as one comma list, cut at whole terms. */
export function promptOf(terms: readonly string[]): string {
  let prompt = '';
  for (const term of terms) {
    const t = term.trim();
    if (!t) continue;
    const next = prompt ? `${prompt}, ${t}` : t;
    if (next.length > MAX_PROMPT_CHARS) break;
    prompt = next;
  }
  return prompt;
}

function transcriptionOf(answer: unknown, model: string, durationMs: number): BatchTranscription {
  if (!checkVerbose.Check(answer)) {
    const first = checkVerbose.Errors(answer).First();
    throw engineError(
      `the answer is not a verbose_json transcription (${first?.path || '/'}: ${first?.message})`,
    );
  }
  return {
    model, // verbose_json does not name it
    text: answer.text,
    language: answer.language ?? null,
    segments: segmentsOf(answer, durationMs),
  };
}

/** Segments in time order, each word in the one its midpoint falls in (else the nearest). */
function segmentsOf(answer: Static<typeof VerboseTranscription>, durationMs: number): BatchSegment[] {
  const words = (answer.words ?? []).map(
    (w): BatchWord => ({ word: w.word, startMs: ms(w.start), endMs: Math.max(ms(w.start), ms(w.end)) }),
  );
  const segments = (answer.segments ?? [])
    .filter((s) => s.text.trim() !== '')
    .map((s) => ({
      text: s.text,
      startMs: ms(s.start),
      endMs: Math.max(ms(s.start), ms(s.end)),
      speakerId: null,
      words: [] as BatchWord[],
    }))
    .sort((a, b) => a.startMs - b.startMs);
  if (segments.length === 0) {
    // Only words, or only text: one segment carrying them.
    const text = answer.text.trim();
    if (!text) return [];
    const startMs = words[0]?.startMs ?? 0;
    const endMs = words.at(-1)?.endMs ?? durationMs;
    return [{ text, startMs, endMs, speakerId: null, words }];
  }
  for (const w of words) segments[nearest(segments, (w.startMs + w.endMs) / 2)]?.words.push(w);
  for (const s of segments) s.words.sort((a, b) => a.startMs - b.startMs);
  return segments;
}

/** The segment (sorted by start) holding `at`, or the one closest to it. */
function nearest(segments: readonly { startMs: number; endMs: number }[], at: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  let last = 0;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if ((segments[m] as { startMs: number }).startMs <= at) {
      last = m;
      lo = m + 1;
    } else hi = m - 1;
  }
  const here = segments[last];
  const next = segments[last + 1];
  if (!here || !next || at <= here.endMs) return last;
  return at - here.endMs <= next.startMs - at ? last : last + 1;
}

function ms(seconds: number): number {
  return Math.max(0, Math.round(seconds * 1000));
}

function engineError(detail: string, cause?: unknown): VoxlineError {
  return new VoxlineError('VL_ERR_BATCH_ENGINE', `openai: ${detail}`, { cause });
}
