/**
 * Mistral's batch transcription, `POST {baseUrl}/v1/audio/transcriptions` (Voxtral Mini Transcribe
 * V2, e.g. voxtral-mini-2602). Wire format as read from:
 * - mistralai/client-ts b14b3b9 (2026-08-05): src/models/components/audiotranscriptionrequest.ts,
 *   src/funcs/audioTranscriptionsComplete.ts, src/lib/encodings.ts `appendForm`: multipart/form-data,
 *   an array is its field repeated (`context_bias=a`, `context_bias=b`), a boolean is "true"/"false",
 *   auth `Authorization: Bearer <key>`;
 * - transcriptionresponse.ts, transcriptionsegmentchunk.ts there, and mistralai/platform-docs-public
 *   222f4ba (2026-08-21) public/openapi.yaml `TranscriptionResponse`: {model, text, language,
 *   segments: [{type: "transcription_segment", text, start, end, score?, speaker_id?}], usage},
 *   times in seconds; `context_bias` items must match `^[^,\s]+$` (the docs write phrases with `_`:
 *   `farewell_address`); the timestamps page: "`timestamp_granularities` is currently not
 *   compatible with `language`".
 *
 * Word timestamps are UNCERTAIN: Mistral documents `word` granularity but no shape for it. The
 * schema has no `words` field (additionalProperties: false) and one chunk type, so words can only
 * come as segment chunks of one word each, alone or mixed with phrase chunks. `segmentsOf` reads
 * all three: phrases only, words only (grouped into segments), or both (words nested in phrases).
 */

import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
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
import { MAX_CONTEXT_BIAS } from './context-bias.js';

export type TimestampGranularity = 'segment' | 'word';

export interface MistralBatchOptions {
  /** https://api.mistral.ai by default. */
  readonly baseUrl?: string;
  readonly apiKey: string;
  readonly model: string;
  /** One request, body included. */
  readonly timeoutMs: number;
  readonly maxChunkMs: number;
  /** What is asked for (default both). Any at all means `language` is not sent (see above). */
  readonly timestampGranularities?: readonly TimestampGranularity[];
  readonly fetch?: typeof fetch;
  /** What the timeout and a Retry-After date run on; the system clock by default. */
  readonly clock?: Clock;
}

/** A transcript of three hours with word chunks is a few MB; more is not a transcript. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Words-only answers: a pause this long, a sentence end or a new speaker starts a segment. */
const WORD_GAP_MS = 1_000;

const SegmentChunk = Type.Object({
  type: Type.Optional(Type.String()),
  text: Type.String(),
  start: Type.Number({ minimum: 0 }),
  end: Type.Number({ minimum: 0 }),
  speaker_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
// `usage` is left unchecked: voxline does not read it.
const TranscriptionResponse = Type.Object({
  model: Type.String(),
  text: Type.String(),
  language: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  segments: Type.Optional(Type.Array(SegmentChunk)),
});
const checkResponse = TypeCompiler.Compile(TranscriptionResponse);

export class MistralBatchTranscriber implements BatchTranscriber {
  readonly name = 'mistral';
  readonly maxChunkMs: number;
  readonly #options: MistralBatchOptions;
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;

  constructor(options: MistralBatchOptions) {
    this.#options = options;
    this.maxChunkMs = options.maxChunkMs;
    this.#url = `${(options.baseUrl ?? 'https://api.mistral.ai').replace(/\/+$/, '')}/v1/audio/transcriptions`;
    this.#fetch = options.fetch ?? fetch;
    this.#clock = options.clock ?? systemClock;
  }

  async transcribe(request: BatchRequest, signal: AbortSignal): Promise<BatchTranscription> {
    signal.throwIfAborted();
    const o = this.#options;
    const deadline = new AbortController();
    const timer = this.#clock.setTimeout(() => deadline.abort(new Error('timeout')), o.timeoutMs);
    const both = AbortSignal.any([signal, deadline.signal]);
    try {
      const response = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${o.apiKey}`, accept: 'application/json' },
        body: this.#form(request),
        signal: both,
      });
      if (!response.ok) {
        const body = await readText(response, ERROR_BODY_BYTES);
        const retryAfterS = retryAfterSeconds(response.headers.get('retry-after'), this.#clock.wallNow());
        throw batchStatusError(this.name, response.status, errorBodyMessage(body.text), {
          retryAfterS,
          secret: o.apiKey,
        });
      }
      const body = await readText(response, MAX_BODY_BYTES);
      if (!body.complete) throw engineError(`answer larger than ${MAX_BODY_BYTES} bytes`);
      return transcriptionOf(body.text, request.durationMs);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (isVoxlineError(err)) throw err;
      if (deadline.signal.aborted) throw engineError(`no answer within ${o.timeoutMs} ms`, err);
      throw engineError(`${new URL(this.#url).origin}: ${networkReason(err)}`, err);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #form(request: BatchRequest): FormData {
    const granularities = this.#options.timestampGranularities ?? ['segment', 'word'];
    const form = new FormData();
    form.append('model', this.#options.model);
    if (request.diarize) form.append('diarize', 'true');
    for (const granularity of granularities) form.append('timestamp_granularities', granularity);
    for (const term of contextBiasTerms(request.contextBias)) form.append('context_bias', term);
    if (request.language && granularities.length === 0) form.append('language', request.language);
    form.append('file', new Blob([request.wav], { type: 'audio/wav' }), request.fileName);
    return form;
  }
}

/** Terms as Mistral takes them: no spaces or commas (a phrase's words joined by `_`), 100 at most. */
export function contextBiasTerms(terms: readonly string[]): string[] {
  const out = new Set<string>();
  for (const term of terms) {
    const t = term
      .trim()
      .replace(/[\s,]+/g, '_')
      .replace(/^_+|_+$/g, '');
    if (t) out.add(t);
  }
  return [...out].slice(0, MAX_CONTEXT_BIAS);
}

function transcriptionOf(text: string, durationMs: number): BatchTranscription {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw engineError('the answer is not JSON', err);
  }
  if (!checkResponse.Check(parsed)) {
    const first = checkResponse.Errors(parsed).First();
    throw engineError(`the answer is not a transcription (${first?.path || '/'}: ${first?.message})`);
  }
  return {
    model: parsed.model,
    text: parsed.text,
    language: parsed.language ?? null,
    segments: segmentsOf(parsed, durationMs),
  };
}

interface Chunk {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly speakerId: string | null;
}

/** The answer's chunks as segments with their words, however Mistral split them (see top). */
function segmentsOf(response: Static<typeof TranscriptionResponse>, durationMs: number): BatchSegment[] {
  const chunks = (response.segments ?? []).map(chunkOf).filter((c) => c.text.trim() !== '');
  chunks.sort((a, b) => a.startMs - b.startMs || b.endMs - a.endMs);
  if (chunks.length === 0) {
    // No timestamps came back: the text as one segment over the whole audio.
    const text = response.text.trim();
    return text ? [{ text, startMs: 0, endMs: durationMs, speakerId: null, words: [] }] : [];
  }
  const phrases = chunks.filter((c) => /\s/.test(c.text.trim()));
  const tokens = chunks.filter((c) => !/\s/.test(c.text.trim()));
  const homes = tokens.map((t) => homeOf(phrases, t));
  if (homes.every((h) => h === -1)) {
    // One granularity only: words if most chunks are single words, else segments without words.
    if (tokens.length > phrases.length) return groupWords(chunks);
    return chunks.map((c) => ({ ...c, words: [] }));
  }
  const segments = phrases.map((p) => ({ ...p, words: [] as BatchWord[] }));
  const alone: {
    text: string;
    startMs: number;
    endMs: number;
    speakerId: string | null;
    words: BatchWord[];
  }[] = [];
  tokens.forEach((t, i) => {
    const home = segments[homes[i] as number];
    if (home) {
      home.words.push(wordOf(t));
      return;
    }
    // A one-word utterance ("Yes.") comes as a phrase chunk and a word chunk: keep one segment.
    const last = alone.at(-1);
    if (last && last.text.trim() === t.text.trim() && t.startMs <= last.endMs) return;
    alone.push({ ...t, words: [wordOf(t)] });
  });
  return [...segments, ...alone].sort((a, b) => a.startMs - b.startMs);
}

/** The index of the phrase (sorted by start) of the token's speaker holding its midpoint, or -1. */
function homeOf(phrases: readonly Chunk[], token: Chunk): number {
  const mid = (token.startMs + token.endMs) / 2;
  let lo = 0;
  let hi = phrases.length - 1;
  let last = -1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if ((phrases[m] as Chunk).startMs <= mid) {
      last = m;
      lo = m + 1;
    } else hi = m - 1;
  }
  // Phrases overlap only where two speakers do (a "Yeah." under the other's sentence is not its word).
  for (const i of [last, last - 1]) {
    const p = phrases[i];
    const sameVoice = p?.speakerId === null || token.speakerId === null || p?.speakerId === token.speakerId;
    if (p && sameVoice && p.startMs <= mid && mid <= p.endMs) return i;
  }
  return -1;
}

function groupWords(words: readonly Chunk[]): BatchSegment[] {
  const groups: Chunk[][] = [];
  let previous: Chunk | undefined;
  for (const w of words) {
    const joins =
      previous !== undefined &&
      w.speakerId === previous.speakerId &&
      w.startMs - previous.endMs < WORD_GAP_MS &&
      !/[.?!]$/.test(previous.text.trim());
    if (joins) groups.at(-1)?.push(w);
    else groups.push([w]);
    previous = w;
  }
  return groups.map((g) => ({
    text: g.map((w) => w.text.trim()).join(' '),
    startMs: (g[0] as Chunk).startMs,
    endMs: g.reduce((end, w) => Math.max(end, w.endMs), 0),
    speakerId: (g[0] as Chunk).speakerId,
    words: g.map(wordOf),
  }));
}

function chunkOf(c: Static<typeof SegmentChunk>): Chunk {
  const startMs = Math.round(c.start * 1000);
  return {
    text: c.text,
    startMs,
    endMs: Math.max(startMs, Math.round(c.end * 1000)),
    speakerId: c.speaker_id ?? null,
  };
}

function wordOf(c: Chunk): BatchWord {
  return { word: c.text, startMs: c.startMs, endMs: c.endMs };
}

function networkReason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : String(e?.message ?? err);
}

function engineError(detail: string, cause?: unknown): VoxlineError {
  return new VoxlineError('VL_ERR_BATCH_ENGINE', `mistral: ${detail}`, { cause });
}
