import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { closeAbruptly, listenLoopback } from './loopback-server.js';
import { type HeardWord, type ReferenceAudio, wordsHeard } from './reference-audio.js';

/**
 * A stand-in for `vllm serve mistralai/Voxtral-Mini-4B-Realtime-2602`, speaking /v1/realtime as
 * vLLM's connection code does (docs/protocols/voxtral.md §2): session.created on connect; session.update must name
 * the served model; a plain commit starts a generation; one transcription.delta per 80 ms of audio
 * (empty unless a word starts in that step), the first after 560 ms (prompt plus 480 ms delay);
 * commit final flushes the remaining steps, then transcription.done; audio appended between final
 * and done is thrown away, as vLLM does. GET /v1/models lists the served model.
 */

const STEP_MS = 80;
const BYTES_PER_MS = 32;
/** Steps of audio the prompt takes before the first token: 1 + 6 delay tokens at 480 ms. */
const PROMPT_STEPS = 7;

export interface VllmDoubleOptions {
  readonly reference: ReferenceAudio;
  readonly model?: string;
  readonly apiKey?: string;
  /**
   * Words "heard" in speech that matches no reference (a browser's microphone, resampled on the
   * way), one every 200 ms from the utterance's start; unset, such speech is heard as silence.
   */
  readonly unmatchedWords?: readonly string[];
  /**
   * Scripted speech: the n-th utterance the double hears (counting every session) "says"
   * `script[n]`, a word every 120 ms from its start, whatever its audio; later ones use the
   * reference as usual. For calls that read out what no recording holds (card numbers, emails).
   */
  readonly script?: readonly string[];
}

interface Generation {
  /** Scripted words for this utterance, if the script reached it. */
  scripted: HeardWord[] | undefined;
  audio: Buffer[];
  bytes: number;
  steps: number;
  text: string;
  words: HeardWord[] | undefined;
  final: boolean;
}

interface Session {
  readonly id: string;
  readonly ws: WebSocket;
  validated: boolean;
  generation: Generation | undefined;
  appends: number;
}

export class VllmRealtimeDouble {
  readonly model: string;
  /** Audio bytes thrown away because they came between `final` and `done` (or with no generation). */
  discardedBytes = 0;
  /** Every utterance finished: its transcript text. */
  readonly utterances: string[] = [];
  readonly sessions = new Set<Session>();
  sessionsOpened = 0;
  readonly #reference: ReferenceAudio;
  readonly #unmatched: HeardWord[] | undefined;
  readonly #script: readonly string[] | undefined;
  #utterancesStarted = 0;
  readonly #apiKey: string | undefined;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #failNext: string | undefined;
  #killAfterAppends: number | undefined;
  #origin = '';
  /** Extra delay before `done`, to widen the final→done window in tests. */
  doneDelayMs = 0;

  constructor(options: VllmDoubleOptions) {
    this.model = options.model ?? 'mistralai/Voxtral-Mini-4B-Realtime-2602';
    this.#reference = options.reference;
    this.#script = options.script;
    this.#unmatched = options.unmatchedWords?.map((word, i) => ({ word, atMs: i * 200 }));
    this.#apiKey = options.apiKey;
    this.#wss = new WebSocketServer({ noServer: true });
    this.#http = createServer((req, res) => {
      if (!this.#authorized(req.headers.authorization)) {
        res.writeHead(401).end();
      } else if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: this.model, object: 'model' }] }));
      } else res.writeHead(404).end();
    });
    this.#http.on('upgrade', (req, socket, head) => {
      if (req.url !== '/v1/realtime' || !this.#authorized(req.headers.authorization)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws));
    });
  }

  async listen(port = 0): Promise<string> {
    this.#origin = await listenLoopback(this.#http, port);
    return this.#origin;
  }

  get url(): string {
    return this.#origin;
  }

  /** The next utterance's generation fails with `processing_error` after its first step. */
  failNextUtterance(message = 'Generation failed: CUDA error'): void {
    this.#failNext = message;
  }

  /** Kills every connection (as a crashed server would) once this many more appends arrive. */
  killAfterAppends(n: number): void {
    this.#killAfterAppends = n;
  }

  /** Drops every open connection now. */
  dropAll(): void {
    for (const ws of this.#wss.clients) ws.terminate();
  }

  close(): Promise<void> {
    return closeAbruptly(this.#http, this.#wss);
  }

  #authorized(header: string | undefined): boolean {
    return !this.#apiKey || header === `Bearer ${this.#apiKey}`;
  }

  #accept(ws: WebSocket): void {
    const session: Session = {
      id: `sess-${randomUUID().replaceAll('-', '')}`,
      ws,
      validated: false,
      generation: undefined,
      appends: 0,
    };
    this.sessions.add(session);
    this.sessionsOpened++;
    ws.on('close', () => this.sessions.delete(session));
    ws.on('message', (data: Buffer) => this.#onMessage(session, data.toString('utf8')));
    this.#send(session, { type: 'session.created', id: session.id, created: Math.floor(Date.now() / 1000) });
  }

  #onMessage(session: Session, text: string): void {
    let event: { type?: string; model?: string; audio?: string; final?: boolean };
    try {
      event = JSON.parse(text);
    } catch {
      this.#error(session, 'Invalid JSON', 'invalid_json');
      return;
    }
    switch (event.type) {
      case 'session.update':
        if (!event.model) this.#error(session, 'Missing required field: model', 'invalid_event');
        else if (event.model !== this.model)
          this.#error(session, `The model \`${event.model}\` does not exist.`, 'model_not_found');
        else session.validated = true;
        return;
      case 'input_audio_buffer.commit':
        if (!session.validated) this.#error(session, 'Model not validated', 'model_not_validated');
        else if (event.final) this.#finish(session);
        else if (!session.generation) {
          const line = this.#script?.[this.#utterancesStarted++];
          session.generation = {
            scripted: line?.split(/\s+/).map((word, i) => ({ word, atMs: i * 120 })),
            audio: [],
            bytes: 0,
            steps: 0,
            text: '',
            words: undefined,
            final: false,
          };
        }
        return;
      case 'input_audio_buffer.append':
        this.#append(session, Buffer.from(event.audio ?? '', 'base64'));
        return;
      default:
        this.#error(session, `Unknown event type: ${event.type}`, 'unknown_event');
    }
  }

  #append(session: Session, audio: Buffer): void {
    if (audio.length === 0) {
      this.#error(session, 'Invalid audio data', 'invalid_audio');
      return;
    }
    session.appends++;
    if (this.#killAfterAppends !== undefined && --this.#killAfterAppends <= 0) {
      this.#killAfterAppends = undefined;
      this.dropAll();
      return;
    }
    const g = session.generation;
    if (!g || g.final) {
      this.discardedBytes += audio.length;
      return;
    }
    g.audio.push(audio);
    g.bytes += audio.length;
    this.#step(session, g, Math.floor(g.bytes / BYTES_PER_MS / STEP_MS) - PROMPT_STEPS + 1);
  }

  /** Emits steps up to (not including) `upTo`, as the model would with that much audio. */
  #step(session: Session, g: Generation, upTo: number): void {
    while (g.steps < upTo) {
      if (this.#failNext && g.steps === 1) {
        const message = this.#failNext;
        this.#failNext = undefined;
        session.generation = undefined;
        this.#error(session, message, 'processing_error');
        return;
      }
      g.words ??= this.#heard(g);
      const k = g.steps++;
      const delta = (g.words ?? [])
        .filter((w) => Math.floor(w.atMs / STEP_MS) === k)
        .map((w) => ` ${w.word}`)
        .join('');
      g.text += delta;
      this.#send(session, { type: 'transcription.delta', delta });
    }
  }

  #heard(g: Generation): HeardWord[] | undefined {
    if (g.scripted) return g.scripted;
    const located = this.#reference.locate(Buffer.concat(g.audio), 'pcm16k');
    if (located) return wordsHeard(located, Number.POSITIVE_INFINITY);
    // Unmatched speech: the fixed words, once 160 ms of sound (not digital silence) has ruled out
    // every reference (80 ms of it would have located one).
    if (!this.#unmatched) return undefined;
    let sound = 0;
    for (const chunk of g.audio)
      for (let i = 0; i + 1 < chunk.length; i += 2) if (chunk.readInt16LE(i) !== 0) sound++;
    return sound >= 160 * 16 ? this.#unmatched : undefined;
  }

  #finish(session: Session): void {
    const g = session.generation;
    if (!g || g.final) return;
    g.final = true;
    // Right padding: the model decodes until every step of the received audio is out.
    const audioMs = g.bytes / BYTES_PER_MS;
    g.words = (this.#heard(g) ?? []).filter((w) => w.atMs < audioMs);
    this.#step(session, g, Math.ceil(audioMs / STEP_MS));
    if (session.generation !== g) return;
    const done = () => {
      session.generation = undefined;
      this.utterances.push(g.text.trim());
      this.#send(session, {
        type: 'transcription.done',
        text: g.text,
        usage: {
          prompt_tokens: 39,
          total_tokens: 39 + g.steps,
          completion_tokens: g.steps,
          prompt_tokens_details: null,
        },
      });
    };
    if (this.doneDelayMs > 0) setTimeout(done, this.doneDelayMs);
    else done();
  }

  #error(session: Session, error: string, code: string): void {
    this.#send(session, { type: 'error', error, code });
  }

  #send(session: Session, event: object): void {
    if (session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify(event));
  }
}
