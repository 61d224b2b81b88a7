import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { type Clock, systemClock, type TimerHandle } from '../../src/clock.js';
import { closeAbruptly, listenLoopback } from './loopback-server.js';
import { type HeardWord, type ReferenceAudio, wordsHeard } from './reference-audio.js';

/**
 * A stand-in for Mistral's hosted realtime transcription (docs/protocols/voxtral.md §3): `session.created` on
 * connect, `session.update` (audio format, target delay) answered by `session.updated`, settings
 * refused (3051) once audio has started; text deltas (no empty ones) when the audio reaches a word's
 * start plus the delay; `input_audio.flush` finishes the segment with `transcription.done` and keeps
 * the session; `input_audio.end` finishes and closes. GET /v1/models lists the model.
 *
 * Limits (options): Mistral documents none for realtime sessions (docs/engines.md), so their
 * shapes here are assumptions, each from the nearest known behaviour. Past `maxSessions` open at
 * once, an upgrade is refused with HTTP 429 and the body Mistral's REST API is reported to send
 * when rate limited (`refuseWith: 'http'`), or taken and answered with an `error` event carrying
 * that code (1300), then closed (`refuseWith: 'event'`; the SDK reads an `error` before
 * `session.created` as a refused connection). A session older than `maxSessionMs` (on the
 * double's clock, from the upgrade) is ended: an `error` event saying so, then a close 1008
 * (`endWith: 'event'`), or a close 1001 with the reason alone (`endWith: 'close'`).
 */

export interface MistralDoubleOptions {
  readonly maxSessionMs?: number;
  readonly maxSessions?: number;
  readonly refuseWith?: 'http' | 'event';
  /** `Retry-After` (seconds) on an HTTP 429 refusal, as an HTTP server may send it. */
  readonly retryAfterS?: number;
  readonly endWith?: 'event' | 'close';
  /** What session ages are measured on (the system clock by default). */
  readonly clock?: Clock;
}

/** Mistral's REST rate-limit body (HTTP 429), as users of its API have reported it. */
const RATE_LIMITED = {
  object: 'error',
  message: 'Rate limit exceeded',
  type: 'rate_limited',
  param: null,
  code: '1300',
};
const SESSION_TOO_OLD = 'Session exceeded its maximum duration.';

const MODEL = 'voxtral-mini-transcribe-realtime-2602';

interface MistralSession {
  readonly ws: WebSocket;
  encoding: 'pcm_s16le' | 'pcm_mulaw';
  delayMs: number;
  audioStarted: boolean;
  segment: Buffer[];
  bytes: number;
  words: HeardWord[] | undefined;
  emitted: number;
  text: string;
  /** No longer counted against `maxSessions`: ended by `input_audio.end`, cut, or closed. */
  ended: boolean;
  ageTimer: TimerHandle | undefined;
}

export class MistralRealtimeDouble {
  readonly apiKey = 'test-mistral-key';
  /** Segments finished, with the audio format each session used. */
  readonly segments: { text: string; encoding: string; delayMs: number }[] = [];
  readonly sessions = new Set<MistralSession>();
  /** Sessions accepted (refused ones not counted). */
  sessionsOpened = 0;
  /** Most sessions open at once. */
  peakSessions = 0;
  /** Connections refused for `maxSessions`. */
  refusals = 0;
  /** Sessions the double ended for `maxSessionMs`. */
  cuts = 0;
  /** `session` (one is set up), `refused`, `cut`, `segment` (a `transcription.done` sent), `closed`. */
  readonly events = new EventEmitter();
  readonly #reference: ReferenceAudio;
  readonly #options: MistralDoubleOptions;
  readonly #clock: Clock;
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  #failNext: string | undefined;
  #live = 0;
  /** Sessions the same API key holds elsewhere (count against `maxSessions`). */
  #elsewhere = 0;

  constructor(reference: ReferenceAudio, options: MistralDoubleOptions = {}) {
    this.#reference = reference;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#http = createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${this.apiKey}`) res.writeHead(401).end();
      else if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model' }] }));
      } else res.writeHead(404).end();
    });
    this.#http.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const ok =
        url.pathname === '/v1/audio/transcriptions/realtime' &&
        url.searchParams.get('model') === MODEL &&
        req.headers.authorization === `Bearer ${this.apiKey}`;
      if (!ok) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      const full = this.#live + this.#elsewhere >= (options.maxSessions ?? Number.POSITIVE_INFINITY);
      if (full && options.refuseWith !== 'event') {
        this.#refused();
        const body = JSON.stringify(RATE_LIMITED);
        socket.end(
          `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${options.retryAfterS === undefined ? '' : `retry-after: ${options.retryAfterS}\r\n`}connection: close\r\n\r\n${body}`,
        );
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        if (!full) {
          this.#accept(ws);
          return;
        }
        this.#refused();
        ws.send(JSON.stringify({ type: 'error', error: { message: RATE_LIMITED.message, code: 1300 } }));
        ws.close(1008, 'rate limited');
      });
    });
  }

  listen(): Promise<string> {
    return listenLoopback(this.#http);
  }

  /** The next append gets an error event back (as a server-side failure would produce). */
  failNextAppend(message = 'Internal server error'): void {
    this.#failNext = message;
  }

  /** Sessions the same API key holds elsewhere, counted against `maxSessions`. */
  holdElsewhere(sessions: number): void {
    this.#elsewhere = sessions;
  }

  dropAll(): void {
    for (const ws of this.#wss.clients) ws.terminate();
  }

  close(): Promise<void> {
    return closeAbruptly(this.#http, this.#wss);
  }

  #accept(ws: WebSocket): void {
    const s: MistralSession = {
      ws,
      encoding: 'pcm_s16le',
      delayMs: 480,
      audioStarted: false,
      segment: [],
      bytes: 0,
      words: undefined,
      emitted: 0,
      text: '',
      ended: false,
      ageTimer: undefined,
    };
    this.sessions.add(s);
    this.sessionsOpened++;
    this.#live++;
    this.peakSessions = Math.max(this.peakSessions, this.#live);
    const { maxSessionMs } = this.#options;
    if (maxSessionMs !== undefined) s.ageTimer = this.#clock.setTimeout(() => this.#cut(s), maxSessionMs);
    ws.on('close', () => {
      this.#end(s);
      this.sessions.delete(s);
      this.events.emit('closed');
    });
    ws.on('message', (data: Buffer) => this.#onMessage(s, JSON.parse(data.toString('utf8'))));
    this.#send(s, { type: 'session.created', session: this.#session(s) });
  }

  #onMessage(
    s: MistralSession,
    event: {
      type: string;
      audio?: string;
      session?: { audio_format?: { encoding: string }; target_streaming_delay_ms?: number };
    },
  ): void {
    if (s.ended) return; // ended or cut: what was on the way is not heard
    if (event.type === 'session.update') {
      if (s.audioStarted) {
        this.#send(s, {
          type: 'error',
          error: { message: 'Session fields cannot be changed after audio has started.', code: 3051 },
        });
        return;
      }
      s.encoding = event.session?.audio_format?.encoding === 'pcm_mulaw' ? 'pcm_mulaw' : 'pcm_s16le';
      s.delayMs = event.session?.target_streaming_delay_ms ?? s.delayMs;
      this.#send(s, { type: 'session.updated', session: this.#session(s) });
      this.events.emit('session');
    } else if (event.type === 'input_audio.append') {
      if (this.#failNext) {
        this.#send(s, { type: 'error', error: { message: this.#failNext, code: 3000 } });
        this.#failNext = undefined;
        return;
      }
      s.audioStarted = true;
      const audio = Buffer.from(event.audio ?? '', 'base64');
      s.segment.push(audio);
      s.bytes += audio.length;
      this.#emit(s, this.#receivedMs(s) - s.delayMs);
    } else if (event.type === 'input_audio.flush' || event.type === 'input_audio.end') {
      this.#emit(s, this.#receivedMs(s));
      this.segments.push({ text: s.text.trim(), encoding: s.encoding, delayMs: s.delayMs });
      this.#send(s, {
        type: 'transcription.done',
        model: MODEL,
        text: s.text.trim(),
        language: null,
        segments: [],
        usage: {},
      });
      Object.assign(s, { segment: [], bytes: 0, words: undefined, emitted: 0, text: '' });
      this.events.emit('segment');
      if (event.type === 'input_audio.end') {
        this.#end(s);
        s.ws.close(1000);
      }
    }
  }

  #refused(): void {
    this.refusals++;
    this.events.emit('refused');
  }

  /** Past its age limit: the session is ended, whatever it was doing. */
  #cut(s: MistralSession): void {
    if (s.ended || s.ws.readyState !== WebSocket.OPEN) return;
    this.cuts++;
    this.#end(s);
    if (this.#options.endWith === 'close') s.ws.close(1001, SESSION_TOO_OLD);
    else {
      this.#send(s, { type: 'error', error: { message: SESSION_TOO_OLD } });
      s.ws.close(1008, 'session duration limit');
    }
    this.events.emit('cut');
  }

  #end(s: MistralSession): void {
    if (s.ended) return;
    s.ended = true;
    this.#live--;
    this.#clock.clearTimeout(s.ageTimer);
  }

  /** Sends the words that start before `upToMs` of the segment's audio. */
  #emit(s: MistralSession, upToMs: number): void {
    if (!s.words) {
      const located = this.#reference.locate(
        Buffer.concat(s.segment),
        s.encoding === 'pcm_mulaw' ? 'mulaw8k' : 'pcm16k',
      );
      if (!located) return;
      s.words = wordsHeard(located, Number.POSITIVE_INFINITY);
    }
    const receivedMs = this.#receivedMs(s);
    while (s.emitted < s.words.length && s.words[s.emitted].atMs < Math.min(upToMs, receivedMs)) {
      const text = ` ${s.words[s.emitted++].word}`;
      s.text += text;
      this.#send(s, { type: 'transcription.text.delta', text });
    }
  }

  #receivedMs(s: MistralSession): number {
    return s.bytes / (s.encoding === 'pcm_mulaw' ? 8 : 32);
  }

  #session(s: MistralSession) {
    return {
      request_id: 'req-double',
      model: MODEL,
      audio_format: { encoding: s.encoding, sample_rate: s.encoding === 'pcm_mulaw' ? 8000 : 16000 },
      target_streaming_delay_ms: s.delayMs,
    };
  }

  #send(s: MistralSession, event: object): void {
    if (s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(event));
  }
}
