import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenLoopback } from './loopback-server.js';

/** One part of a multipart/form-data body: a text field, or a file with its bytes as sent. */
export interface FormPart {
  readonly name: string;
  readonly value: string;
  readonly fileName?: string;
  readonly contentType?: string;
  readonly bytes: Buffer;
}

export interface ReceivedTranscription {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  /** Every part in the order sent (a repeated field appears once per value). */
  readonly parts: readonly FormPart[];
}

/** Mistral's TranscriptionSegmentChunk as it goes on the wire (times in seconds). */
export interface MistralSegmentChunk {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly speaker_id?: string | null;
  readonly score?: number | null;
}

export type MistralBatchAnswer =
  | {
      readonly kind: 'transcription';
      readonly segments: readonly MistralSegmentChunk[];
      readonly text?: string;
    }
  | {
      readonly kind: 'error';
      readonly status: number;
      readonly body: unknown;
      readonly retryAfter?: string;
    }
  /** A 200 whose body is not a TranscriptionResponse (the body as given, JSON or not). */
  | { readonly kind: 'malformed'; readonly body: string }
  /** Takes the request and never answers (aborts, timeouts). */
  | { readonly kind: 'hang' };

/**
 * Mistral's batch transcription API, `POST /v1/audio/transcriptions`, multipart/form-data with a
 * Bearer key, answering a TranscriptionResponse (`{model, text, language, segments, usage}`) or
 * Mistral's error bodies. Every request is kept, its parts as received; answers are scripted in
 * order (a default transcription when the script runs out). A wrong key gets 401
 * `{"detail":"Unauthorized"}` as the real API answers.
 */
export class MistralBatchDouble {
  readonly requests: ReceivedTranscription[] = [];
  url = '';
  readonly #http: Server;
  readonly #script: MistralBatchAnswer[] = [];
  readonly #waiting: ((r: ReceivedTranscription) => void)[] = [];
  #answerBy: ((request: ReceivedTranscription) => MistralBatchAnswer) | undefined;

  constructor(readonly apiKey: string) {
    this.#http = createServer((req, res) => {
      this.#serve(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(err.message);
      });
    });
  }

  /** Answers each request not covered by queued answers from what it carries (e.g. by its file name). */
  answerBy(fn: (request: ReceivedTranscription) => MistralBatchAnswer): void {
    this.#answerBy = fn;
  }

  /** Queues answers for the next requests, in order. */
  answer(...answers: MistralBatchAnswer[]): void {
    this.#script.push(...answers);
  }

  /** The next request to arrive (or the one already kept at that index). */
  received(index = this.requests.length): Promise<ReceivedTranscription> {
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
      json(res, 404, { detail: 'Not Found' });
      return;
    }
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
      json(res, 401, { detail: 'Unauthorized' });
      return;
    }
    const received: ReceivedTranscription = {
      path: req.url,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      parts: parseMultipart(body, req.headers['content-type'] ?? ''),
    };
    this.requests.push(received);
    for (const resolve of this.#waiting.splice(0)) resolve(received);
    const answer = this.#script.shift() ??
      this.#answerBy?.(received) ?? { kind: 'transcription', segments: [] };
    const field = (name: string) => received.parts.find((p) => p.name === name)?.value;
    switch (answer.kind) {
      case 'transcription':
        json(res, 200, {
          model: field('model') ?? 'voxtral-mini-2602',
          text: answer.text ?? answer.segments.map((s) => s.text.trim()).join(' '),
          language: null,
          segments: answer.segments.map((s) => ({ ...s, type: 'transcription_segment' })),
          usage: { prompt_audio_seconds: 5, prompt_tokens: 4, total_tokens: 120, completion_tokens: 116 },
        });
        return;
      case 'error':
        json(res, answer.status, answer.body, answer.retryAfter);
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' }).end(answer.body);
        return;
      case 'hang':
        return;
    }
  }
}

/** Mistral's error body (`{"object":"error",…}`), as its API sends for 4xx and 429. */
export function mistralError(message: unknown, type: string, code: string | null = null) {
  return { object: 'error', message, type, param: null, code };
}

/** multipart/form-data as RFC 7578 lays it out: parts between `--boundary` lines, binary-safe. */
export function parseMultipart(body: Buffer, contentType: string): FormPart[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!boundary) throw new Error(`not multipart/form-data: ${contentType}`);
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) throw new Error('multipart body ends without its closing boundary');
    // Each part: CRLF, headers, CRLF CRLF, content, CRLF before the next delimiter.
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const bytes = Buffer.from(part.subarray(split + 4));
    const disposition = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? '';
    const name = /\bname="([^"]*)"/.exec(disposition)?.[1];
    if (name === undefined) throw new Error(`a part without a name: ${headers}`);
    const fileName = /\bfilename="([^"]*)"/.exec(disposition)?.[1];
    const type = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1];
    parts.push({
      name,
      value: bytes.toString('utf8'),
      bytes,
      ...(fileName !== undefined ? { fileName } : {}),
      ...(type !== undefined ? { contentType: type.trim() } : {}),
    });
    at = next;
  }
  return parts;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown, retryAfter?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}),
  });
  res.end(JSON.stringify(body));
}
