import { createServer, type Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { closeAbruptly, listenLoopback } from './loopback-server.js';
import { type HeardWord, type ReferenceAudio, wordsHeard } from './reference-audio.js';

/**
 * A stand-in for Mistral's hosted realtime transcription (docs/protocols/voxtral.md §3): `session.created` on
 * connect, `session.update` (audio format, target delay) answered by `session.updated`, settings
 * refused (3051) once audio has started; text deltas (no empty ones) when the audio reaches a word's
 * start plus the delay; `input_audio.flush` finishes the segment with `transcription.done` and keeps
 * the session; `input_audio.end` finishes and closes. GET /v1/models lists the model.
 */

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
}

export class MistralRealtimeDouble {
  readonly apiKey = 'test-mistral-key';
  /** Segments finished, with the audio format each session used. */
  readonly segments: { text: string; encoding: string; delayMs: number }[] = [];
  readonly sessions = new Set<MistralSession>();
  readonly #reference: ReferenceAudio;
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  #failNext: string | undefined;

  constructor(reference: ReferenceAudio) {
    this.#reference = reference;
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
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
    });
  }

  listen(): Promise<string> {
    return listenLoopback(this.#http);
  }

  /** The next append gets an error event back (as a server-side failure would produce). */
  failNextAppend(message = 'Internal server error'): void {
    this.#failNext = message;
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
    };
    this.sessions.add(s);
    ws.on('close', () => this.sessions.delete(s));
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
      if (event.type === 'input_audio.end') s.ws.close(1000);
    }
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
