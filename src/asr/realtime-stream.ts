import type { FastifyBaseLogger } from 'fastify';
import type WebSocket from 'ws';
import type { AudioFrame } from '../audio/frame.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { ArrivalClock } from './arrival-clock.js';
import { EngineOutage } from './engine-outage.js';
import type { RealtimeLimits, StreamObserver } from './realtime-options.js';
import type { SttStream, SttStreamOptions, SttStreamStats } from './stt.js';
import { newStats } from './stt.js';
import type { SttErrorCode, TranscriptEvent } from './transcript-event.js';
import { rewind, UtteranceQueue } from './utterance-queue.js';
import type { WordTimer } from './word-timing.js';

/** A server-reported failure, sorted by what the stream should do about it. */
export type ServerFailure =
  | { kind: 'fatal'; code: SttErrorCode; message: string }
  | { kind: 'retry_utterance'; message: string };

/**
 * The engine-independent half of a realtime WebSocket transcription stream: it keeps each
 * utterance's audio until the server's final for it arrives, sends one utterance at a time,
 * reconnects with backoff when the socket drops or stalls and re-sends the open utterance (its
 * final is then marked `recovered`), and bounds what it holds while the server is away. Engines
 * supply the wire protocol.
 */
export abstract class RealtimeStream implements SttStream {
  readonly stats: SttStreamStats = newStats();
  protected readonly log: FastifyBaseLogger;
  protected readonly leg: string;
  readonly #track: string;
  readonly #callSid: string;
  readonly #onEvent: (event: TranscriptEvent) => void;
  readonly #onLost: SttStreamOptions['onLost'];
  readonly #limits: RealtimeLimits;
  readonly #observer: StreamObserver;
  readonly #health: EngineOutage;
  readonly #arrivals = new ArrivalClock();
  readonly #queue = new UtteranceQueue();
  readonly #clock: Clock;
  #ws: WebSocket | undefined;
  #ready = false;
  #timer: TimerHandle | undefined;
  #fatal = false;
  #closed = false;
  #ending = false;
  /** A reconnect is scheduled (backoff): frames wait for it rather than connecting themselves. */
  #retryPending = false;
  #drained: (() => void) | undefined;

  protected constructor(options: SttStreamOptions, limits: RealtimeLimits, observer: StreamObserver) {
    this.log = options.log;
    this.leg = options.leg;
    this.#track = options.track;
    this.#callSid = options.callSid;
    this.#onEvent = options.onEvent;
    this.#onLost = options.onLost;
    this.#limits = limits;
    this.#observer = observer;
    this.#clock = options.clock ?? systemClock;
    this.#health = new EngineOutage(limits.backoffBaseMs, limits.backoffMaxMs);
  }

  /** Engine label for finals and metrics. */
  protected abstract readonly engine: string;
  /** Bytes of encoded audio per millisecond (32 for PCM16 16 kHz, 8 for μ-law 8 kHz). */
  protected abstract readonly bytesPerMs: number;
  /** Opens a socket; the engine calls `ready()` once the session is set up. */
  protected abstract openSocket(): WebSocket;
  /** The frame's audio as the server takes it, a view valid during pushFrame (it is copied): PCM16 16 kHz. */
  protected encode(frame: AudioFrame): Buffer {
    const { pcm } = frame;
    return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  }
  protected abstract sendBegin(ws: WebSocket): void;
  protected abstract sendAudio(ws: WebSocket, chunk: Buffer): void;
  protected abstract sendEnd(ws: WebSocket): void;
  /**
   * Places new text on the utterance's word timer: by step count, or by arrival for servers
   * without a step cadence (`sentUpToMs`: call-clock end of the audio sent so far).
   */
  protected abstract timeText(timer: WordTimer, delta: string, sentUpToMs: number): void;
  /** The socket is being let go; `graceful` when the stream ended normally on a ready session. */
  protected onSocketClosed(_ws: WebSocket, _graceful: boolean): void {}

  /** Starts connecting now, so the first utterance does not wait for the handshake. */
  start(): void {
    this.#connect();
  }

  pushFrame(frame: AudioFrame): void {
    if (this.#closed || this.#fatal) {
      this.#drop(frame.startMs, frame.durationMs, this.#fatal ? 'engine_error' : 'audio_dropped');
      return;
    }
    const endMs = frame.startMs + frame.durationMs;
    this.#arrivals.record(endMs, this.#clock.now());
    this.#queue.append(this.encode(frame), frame.startMs, endMs);
    this.#enforceBound();
    // While a reconnect waits out its backoff, audio queues: connecting per frame once made about
    // 50 attempts a second per leg against a server that was down, with a warning each.
    if (!this.#ws && !this.#retryPending) this.#connect();
    else this.#pump();
  }

  flush(speechEndMs: number): void {
    const open = this.#queue.open;
    if (!open) return;
    open.flushed = true;
    open.speechEndMs = Math.min(open.speechEndMs, speechEndMs);
    this.#pump();
  }

  endInput(): Promise<void> {
    this.#ending = true;
    const open = this.#queue.open;
    if (open) this.flush(open.speechEndMs);
    if (this.#queue.length === 0 || this.#closed || this.#fatal) {
      this.close();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  pendingFromMs(): number | undefined {
    return this.#queue.head?.startMs;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#queue.clear()) this.#drop(u.startMs, u.bytes / this.bytesPerMs, 'audio_dropped');
    this.#clock.clearTimeout(this.#timer);
    this.#dropSocket(true);
    this.#drained?.();
  }

  // ---- called by engines on server messages ----

  /** The session is set up: audio may flow. */
  protected ready(): void {
    this.#ready = true;
    const failedAttempts = this.#health.recovered();
    if (failedAttempts !== undefined) this.log.info({ failedAttempts }, 'speech engine reachable again');
    this.#clock.clearTimeout(this.#timer);
    this.#pump();
  }

  protected delta(text: string): void {
    const head = this.#queue.head;
    if (!head?.begun) return;
    this.timeText(head.timer, text, head.startMs + head.sentBytes / this.bytesPerMs);
    if (text === '') return;
    const event: TranscriptEvent = {
      type: 'partial',
      leg: this.leg,
      utteranceId: head.id,
      text: head.timer.text.trim(),
      startMs: head.startMs,
      audioMs: head.timer.audioMs,
    };
    this.#latency('partial', head.timer.audioMs);
    this.#onEvent(event);
  }

  protected done(text: string): void {
    const head = this.#queue.head;
    if (!head?.endSent) {
      this.log.warn('speech engine sent a final that was not asked for: ignored');
      return;
    }
    this.#clock.clearTimeout(this.#timer);
    this.#queue.shift();
    this.stats.finals++;
    this.#latency('final', head.speechEndMs);
    this.#onEvent({
      type: 'final',
      leg: this.leg,
      utteranceId: head.id,
      text: (text || head.timer.text).trim(),
      startMs: head.startMs,
      endMs: head.speechEndMs,
      words: head.timer.words(head.speechEndMs),
      recovered: head.recovered,
      engine: this.engine,
    });
    this.#pump();
  }

  protected failed(failure: ServerFailure): void {
    if (failure.kind === 'fatal') {
      this.#emitError(failure.code, failure.message, false);
      this.#fatal = true;
      for (const u of this.#queue.clear()) this.#drop(u.startMs, u.bytes / this.bytesPerMs, failure.code);
      this.#dropSocket();
      this.#drained?.();
      return;
    }
    const head = this.#queue.head;
    if (head) {
      head.failures++;
      if (head.failures > 1) {
        this.#emitError('utterance_failed', `utterance ${head.id} failed twice: ${failure.message}`, true);
        this.#queue.shift();
        this.#drop(head.startMs, head.bytes / this.bytesPerMs, 'utterance_failed');
      } else {
        this.#emitError('engine_error', `${failure.message}; retrying the utterance`, true);
      }
    }
    // The server's generation is gone with the error: start over on a fresh session.
    this.#lost('server error');
  }

  /** The socket closed or errored underneath us. */
  protected socketLost(ws: WebSocket, reason: string): void {
    if (ws === this.#ws) this.#lost(reason);
  }

  // ---- internals ----

  #connect(): void {
    if (this.#closed || this.#fatal || this.#ws) return;
    this.#retryPending = false;
    this.#clock.clearTimeout(this.#timer);
    let ws: WebSocket;
    try {
      ws = this.openSocket();
    } catch (err) {
      this.log.error({ err }, 'cannot open the speech engine socket');
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    this.#ready = false;
    this.#arm(this.#limits.connectTimeoutMs, 'no session within the connect timeout');
  }

  #pump(): void {
    const ws = this.#ws;
    const head = this.#queue.head;
    if (!ws || !this.#ready || !head) {
      if (!head && this.#ending) this.close();
      return;
    }
    if (!head.begun) {
      head.begun = true;
      this.sendBegin(ws);
    }
    while (head.sent < head.ends.length) {
      const chunk = head.audio.subarray(head.sentBytes, head.ends[head.sent++]);
      this.sendAudio(ws, chunk);
      this.#observer.appended?.(this.#callSid, this.leg, head.startMs + head.sentBytes / this.bytesPerMs);
      head.sentBytes += chunk.length;
      const seconds = chunk.length / this.bytesPerMs / 1000;
      this.stats.audioSecondsSent += seconds;
      this.#observer.audioSent(this.#track, seconds);
    }
    if (head.flushed && !head.endSent) {
      head.endSent = true;
      this.sendEnd(ws);
      this.#arm(this.#limits.doneTimeoutMs, 'no final within the done timeout');
    }
  }

  #lost(reason: string): void {
    this.#dropSocket();
    const head = this.#queue.head;
    if (head) rewind(head);
    if (this.#closed || this.#fatal) return;
    const { attempt, outageStarts } = this.#health.lost();
    const entry = { reason, pending: this.#queue.length, attempt };
    // One warning when an outage starts; the retries that follow are debug (each leg retries on backoff).
    if (attempt === 1) this.log.warn(entry, 'speech engine connection lost: reconnecting');
    else this.log.debug(entry, 'speech engine still unreachable');
    // A second failure in a row is an outage, not a blip: the transcript says so, once.
    if (outageStarts) {
      this.#emitError(
        'engine_unavailable',
        `the speech engine cannot be reached (${reason}): retrying with backoff; this leg's audio is held for up to ${this.#limits.maxBufferMs} ms`,
        true,
      );
    }
    if (this.#queue.length > 0) this.#scheduleReconnect();
    else if (this.#ending) this.close();
    // Otherwise reconnect lazily, when the next utterance's audio arrives.
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#fatal) return;
    const wait = this.#health.nextWait();
    this.stats.reconnects++;
    this.#observer.reconnect();
    this.#clock.clearTimeout(this.#timer);
    this.#retryPending = true;
    this.#timer = this.#clock.setTimeout(() => this.#connect(), wait);
    this.#timer.unref();
  }

  #arm(ms: number, reason: string): void {
    this.#clock.clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#timer = this.#clock.setTimeout(() => {
      if (ws && ws === this.#ws) this.#lost(reason);
    }, ms);
    this.#timer.unref();
  }

  /** Lets go of the socket: `graceful` closes it (the stream is done), otherwise it is cut. */
  #dropSocket(graceful = false): void {
    const ws = this.#ws;
    this.#ws = undefined;
    const wasReady = this.#ready;
    this.#ready = false;
    if (!ws) return;
    this.onSocketClosed(ws, graceful && wasReady);
    ws.removeAllListeners();
    ws.on('error', () => {}); // a late error on a socket we gave up on is not news
    if (graceful && ws.readyState === ws.OPEN) ws.close(1000, 'stream ended');
    else ws.terminate();
  }

  /** Over the bound: the oldest utterance goes, counted and reported. */
  #enforceBound(): void {
    const maxBytes = this.#limits.maxBufferMs * this.bytesPerMs;
    for (let oldest = this.#queue.overflow(maxBytes); oldest; oldest = this.#queue.overflow(maxBytes)) {
      const ms = oldest.bytes / this.bytesPerMs;
      this.#drop(oldest.startMs, ms, 'engine_unavailable');
      if (this.#health.overflowed()) {
        this.#emitError(
          'engine_unavailable',
          `the speech engine has not taken this leg's audio for over ${this.#limits.maxBufferMs} ms: dropping the oldest untranscribed audio (${Math.round(ms)} ms from ${Math.round(oldest.startMs)} ms)`,
          true,
        );
      }
      if (oldest.begun) this.#lost('buffer bound exceeded while the server held an utterance');
    }
  }

  #drop(startMs: number, ms: number, code: SttErrorCode): void {
    if (ms <= 0) return;
    this.stats.droppedMs += ms;
    this.#observer.dropped(this.#track, ms, code);
    this.#onLost?.(startMs, startMs + ms);
  }

  #emitError(code: SttErrorCode, message: string, recoverable: boolean): void {
    this.log.warn({ code, recoverable }, message);
    this.#onEvent({ type: 'error', leg: this.leg, code, message, recoverable });
  }

  #latency(kind: 'partial' | 'final', callMs: number): void {
    const arrived = this.#arrivals.arrivalOf(callMs);
    if (arrived !== undefined) this.#observer.latency(kind, (this.#clock.now() - arrived) / 1000);
  }
}
