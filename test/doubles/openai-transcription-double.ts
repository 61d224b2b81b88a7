import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenLoopback } from './loopback-server.js';
import { type FormPart, parseMultipart } from './mistral-batch-double.js';

export interface ReceivedOpenAiTranscription {
  readonly authorization: string | undefined;
  readonly parts: readonly FormPart[];
}

export interface VerboseWord {
  readonly word: string;
  readonly start: number;
  readonly end: number;
}

export interface VerboseSegment {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export type OpenAiTranscriptionAnswer =
  | {
      readonly kind: 'transcription';
      readonly segments: readonly VerboseSegment[];
      readonly words?: readonly VerboseWord[] | null;
      readonly language?: string;
    }
  | { readonly kind: 'error'; readonly status: number; readonly body: unknown; readonly retryAfter?: string }
  | { readonly kind: 'malformed'; readonly body: string; readonly contentType?: string }
  | { readonly kind: 'hang' };

/**
 * An OpenAI-compatible `POST /v1/audio/transcriptions` (OpenAI, vLLM, Whisper servers) answering
 * `response_format=verbose_json`: `{task, language, duration, text, words, segments}` with every
 * segment field Whisper sends. Errors go as `{"error": {message, type, param, code}}`; a wrong key
 * gets OpenAI's 401, which quotes the key it was given (so a client must not pass it on).
 */
export class OpenAiTranscriptionDouble {
  readonly requests: ReceivedOpenAiTranscription[] = [];
  url = '';
  readonly #http: Server;
  readonly #script: OpenAiTranscriptionAnswer[] = [];
  readonly #waiting: ((r: ReceivedOpenAiTranscription) => void)[] = [];

  constructor(readonly apiKey: string) {
    this.#http = createServer((req, res) => {
      this.#serve(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(err.message);
      });
    });
  }

  answer(...answers: OpenAiTranscriptionAnswer[]): void {
    this.#script.push(...answers);
  }

  received(index = this.requests.length): Promise<ReceivedOpenAiTranscription> {
    const kept = this.requests[index];
    if (kept) return Promise.resolve(kept);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  async listen(): Promise<string> {
    this.url = await listenLoopback(this.#http);
    return this.url;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== '/v1/audio/transcriptions') {
      json(res, 404, openAiError('Not found', 'invalid_request_error', null));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (given !== this.apiKey) {
      const message = `Incorrect API key provided: ${given}. You can find your API key at https://platform.openai.com/account/api-keys.`;
      json(res, 401, openAiError(message, 'invalid_request_error', 'invalid_api_key'));
      return;
    }
    const received = {
      authorization: req.headers.authorization,
      parts: parseMultipart(Buffer.concat(chunks), req.headers['content-type'] ?? ''),
    };
    this.requests.push(received);
    for (const resolve of this.#waiting.splice(0)) resolve(received);
    const answer = this.#script.shift() ?? { kind: 'transcription', segments: [] };
    switch (answer.kind) {
      case 'transcription':
        json(res, 200, verboseJson(answer));
        return;
      case 'error':
        json(res, answer.status, answer.body, answer.retryAfter);
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': answer.contentType ?? 'application/json' }).end(answer.body);
        return;
      case 'hang':
        return;
    }
  }
}

/** OpenAI's (and vLLM's) error body. */
export function openAiError(message: string, type: string, code: string | null) {
  return { error: { message, type, param: null, code } };
}

function verboseJson(a: Extract<OpenAiTranscriptionAnswer, { kind: 'transcription' }>) {
  return {
    task: 'transcribe',
    language: a.language ?? 'english',
    duration: a.segments.at(-1)?.end ?? 0,
    text: a.segments.map((s) => s.text.trim()).join(' '),
    words: a.words === undefined ? [] : a.words,
    segments: a.segments.map((s, id) => ({
      id,
      seek: 0,
      start: s.start,
      end: s.end,
      text: s.text,
      tokens: [50364, 2425, 13],
      temperature: 0,
      avg_logprob: -0.21,
      compression_ratio: 1.2,
      no_speech_prob: 0.01,
    })),
  };
}

function json(res: ServerResponse, status: number, body: unknown, retryAfter?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}),
  });
  res.end(JSON.stringify(body));
}
