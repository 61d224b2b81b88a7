import type { FastifyBaseLogger } from 'fastify';
import type WebSocket from 'ws';
import type { AudioFrame } from '../audio/frame.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { retryAfterSeconds } from '../http/retry-after.js';
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
  | { kind: 'retry_utterance'; message: string }
  /**
   * The server's own limits, not the utterance's doing (no failure is counted against it):
   * `refused`, no session for now (too many, rate limited: said to the leg once, retried on
   * backoff); `session_ended`, the server ended a session (its age: reconnect, re-send).
   */
  | {
      kind: 'refused' | 'session_ended';
      message: string;
      /** The server's Retry-After header: no reconnect before it (the backoff may wait longer). */
      retryAfter?: string;
    };

/**
 * Session slots an engine's streams share (a cap on the sessions open at once): a stream asks for
 * one before each socket opens and gives it back when the socket goes.
 */
export interface SessionGate {
  /** Streams wait for a slot that no socket now closing will free: holders between utterances give theirs back. */
  readonly contended: boolean;
  /** `holder.granted()` runs once a slot is the holder's: at once, or when another gives one back. */
  acquire(holder: SessionHolder): void;
  /** Gives the holder's slot back, or withdraws its request. */
  release(holder: SessionHolder): void;
  /** The holder's socket is closing: its slot comes free soon (no need to ask another for one). */
  closing(holder: SessionHolder): void;
}

export interface SessionHolder {
  granted(): void;
  /** Another stream waits for a slot: give this one back if between utterances; true if it did. */
  yieldIfIdle(): boolean;
}

/** How an engine's sessions are renewed and shared (engines whose server limits sessions). */
export interface SessionPolicy {
  /** A session older than this (ms from its socket's opening) is replaced between utterances. */
  readonly rotateAfterMs?: number;
  readonly gate?: SessionGate;
}

/**
 * The engine-independent half of a realtime WebSocket transcription stream: it keeps each
 * utterance's audio until the server's final for it arrives, sends one utterance at a time,
 * reconnects with backoff when the socket drops or stalls and re-sends the open utterance (its
 * final is then marked `recovered`), and bounds what it holds while the server is away. Engines
 * supply the wire protocol.
 */
/** A server's Retry-After is honoured up to this; past it the usual backoff goes on. */
const MAX_RETRY_AFTER_MS = 60_000;

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
  readonly #policy: SessionPolicy | undefined;
  /** When the current socket was opened (its session's age), and the finals it has carried. */
  #openedAt = 0;
  #sessionFinals = 0;
  #renewTimer: TimerHandle | undefined;
  /** The gate's slot for the next or current socket: asked for, or held. */
  #slot: { readonly holder: SessionHolder; held: boolean } | undefined;
  #waitingSince: number | undefined;
  /** No connection before this (the clock's ms): the server's Retry-After on a refusal. */
  #retryNotBefore = 0;
  /** A refusal was said to the leg in this run of failures (one event per outage). */
  #refusalReported = false;

  protected constructor(
    options: SttStreamOptions,
    limits: RealtimeLimits,
    observer: StreamObserver,
    policy?: SessionPolicy,
  ) {
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
    this.#policy = policy;
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
    if (!this.#queue.open) return;
    this.#queue.flushOpen(speechEndMs);
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

  /** Whether `ws` is the socket the stream is using (not one it has let go). */
  protected isCurrent(ws: WebSocket): boolean {
    return ws === this.#ws;
  }

  // ---- called by engines on server messages ----

  /** The session is set up: audio may flow. */
  protected ready(): void {
    this.#ready = true;
    this.#refusalReported = false;
    const failedAttempts = this.#health.recovered();
    if (failedAttempts !== undefined) this.log.info({ failedAttempts }, 'speech engine reachable again');
    this.#clock.clearTimeout(this.#timer);
    this.#armRenewal();
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
    this.#sessionFinals++;
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
    if (failure.kind === 'refused' || failure.kind === 'session_ended') {
      if (failure.kind === 'session_ended') this.log.info(failure.message);
      else if (!this.#refusalReported) {
        this.#refusalReported = true;
        this.#emitError(
          'engine_unavailable',
          `${failure.message}: retrying with backoff; this leg's audio is held for up to ${this.#limits.maxBufferMs} ms`,
          true,
        );
      }
      this.#lost(failure.message, this.#retryAfterMs(failure.retryAfter));
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
    const waitMs = this.#retryNotBefore - this.#clock.now();
    if (waitMs > 0) {
      // The server's Retry-After still runs: audio waits for it, as it does for a backoff.
      this.#scheduleReconnect(waitMs, false);
      return;
    }
    const gate = this.#policy?.gate;
    if (gate && !this.#slot?.held) {
      if (this.#slot) return; // waiting already
      const slot: { readonly holder: SessionHolder; held: boolean } = {
        held: false,
        holder: {
          granted: () => this.#granted(slot),
          yieldIfIdle: () => slot === this.#slot && this.#renewIfDue(),
        },
      };
      this.#slot = slot;
      gate.acquire(slot.holder); // may grant at once, and connect
      if (this.#slot === slot && !slot.held) {
        this.#waitingSince = this.#clock.now();
        this.log.info(
          { pending: this.#queue.length },
          "every speech engine session is in use: waiting for one (this leg's audio is held meanwhile)",
        );
      }
      return;
    }
    this.#clock.clearTimeout(this.#timer);
    let ws: WebSocket;
    try {
      ws = this.openSocket();
    } catch (err) {
      this.log.error({ err }, 'cannot open the speech engine socket');
      this.#releaseSlot();
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    this.#openedAt = this.#clock.now();
    this.#sessionFinals = 0;
    this.#ready = false;
    this.#arm(this.#limits.connectTimeoutMs, 'no session within the connect timeout');
  }

  #pump(): void {
    if (!this.#queue.head?.begun && this.#renewIfDue()) return;
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
    const { ends } = head;
    const groupBytes = (this.#limits.appendMs ?? 0) * this.bytesPerMs;
    while (head.sent < ends.length) {
      // The group: chunks until it holds groupBytes; an unfinished one waits for more audio unless
      // the utterance has ended. Chunks lie end to end in `audio`, so a group is one subarray.
      let last = head.sent;
      while (last < ends.length - 1 && ends[last] - head.sentBytes < groupBytes) last++;
      if (ends[last] - head.sentBytes < groupBytes && !head.flushed) break;
      const chunk = head.audio.subarray(head.sentBytes, ends[last]);
      this.sendAudio(ws, chunk);
      if (this.#observer.appended) {
        for (let i = head.sent; i <= last; i++) {
          const from = i === 0 ? 0 : ends[i - 1];
          this.#observer.appended(this.#callSid, this.leg, head.startMs + from / this.bytesPerMs);
        }
      }
      head.sent = last + 1;
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

  /** A Retry-After header in ms, at most MAX_RETRY_AFTER_MS (audio waits meanwhile, bounded). */
  #retryAfterMs(header: string | undefined): number | undefined {
    const seconds = retryAfterSeconds(header, this.#clock.wallNow());
    return seconds === undefined ? undefined : Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  }

  #lost(reason: string, retryAfterMs?: number): void {
    if (retryAfterMs !== undefined) this.#retryNotBefore = this.#clock.now() + retryAfterMs;
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
    if (outageStarts && !this.#refusalReported) {
      this.#emitError(
        'engine_unavailable',
        `the speech engine cannot be reached (${reason}): retrying with backoff; this leg's audio is held for up to ${this.#limits.maxBufferMs} ms`,
        true,
      );
    }
    if (this.#queue.length > 0) this.#scheduleReconnect(retryAfterMs);
    else if (this.#ending) this.close();
    // Otherwise reconnect lazily, when the next utterance's audio arrives.
  }

  #scheduleReconnect(notBeforeMs = 0, counted = true): void {
    if (this.#closed || this.#fatal) return;
    const wait = counted ? Math.max(this.#health.nextWait(), notBeforeMs) : notBeforeMs;
    if (counted) {
      this.stats.reconnects++;
      this.#observer.reconnect();
    }
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
    this.#clock.clearTimeout(this.#renewTimer);
    if (ws) {
      this.onSocketClosed(ws, graceful && wasReady);
      ws.removeAllListeners();
      ws.on('error', () => {}); // a late error on a socket we gave up on is not news
      if (graceful && ws.readyState === ws.OPEN) ws.close(1000, 'stream ended');
      else ws.terminate();
    }
    // Last: giving the slot back may open another stream's session at once.
    this.#releaseSlot(ws);
  }

  // ---- session renewal and sharing (SessionPolicy) ----

  /** A slot came free for this stream. */
  #granted(slot: { readonly holder: SessionHolder; held: boolean }): void {
    if (slot !== this.#slot) {
      this.#policy?.gate?.release(slot.holder);
      return;
    }
    slot.held = true;
    if (this.#waitingSince !== undefined) {
      const waitedMs = this.#clock.now() - this.#waitingSince;
      this.#waitingSince = undefined;
      this.#observer.sessionWaited?.(waitedMs / 1000);
      this.log.info({ waitedMs: Math.round(waitedMs) }, 'speech engine session free: connecting');
    }
    this.#connect();
  }

  /**
   * Gives the slot back, or withdraws the request. A server counts a session until its socket has
   * closed, so the slot of a socket still closing is free once it has (or after the connect
   * timeout, cutting it).
   */
  #releaseSlot(ws?: WebSocket): void {
    const slot = this.#slot;
    const gate = this.#policy?.gate;
    this.#slot = undefined;
    this.#waitingSince = undefined;
    if (!slot || !gate) return;
    if (!slot.held || !ws || ws.readyState === ws.CLOSED) {
      gate.release(slot.holder);
      return;
    }
    gate.closing(slot.holder);
    let fallback: TimerHandle | undefined;
    const release = () => {
      this.#clock.clearTimeout(fallback);
      gate.release(slot.holder); // a second call finds nothing to release
    };
    ws.once('close', release);
    fallback = this.#clock.setTimeout(() => {
      ws.terminate();
      release();
    }, this.#limits.connectTimeoutMs);
    fallback.unref();
  }

  /** Checks the session's age when it reaches the rotation age (it may be mid-utterance then: done() checks again). */
  #armRenewal(): void {
    const after = this.#policy?.rotateAfterMs;
    this.#clock.clearTimeout(this.#renewTimer);
    if (after === undefined) return;
    const ws = this.#ws;
    const wait = Math.max(0, this.#openedAt + after - this.#clock.now());
    this.#renewTimer = this.#clock.setTimeout(() => {
      if (ws === this.#ws) this.#renewIfDue();
    }, wait);
    this.#renewTimer.unref();
  }

  /**
   * Between utterances only (nothing of one on the wire), lets the session go when it is due:
   * older than the rotation age (a new one opens at once), or wanted by a stream waiting for a
   * slot, once this session has carried an utterance or has nothing to carry (this leg queues for
   * a slot again when it has audio). Returns whether it let go.
   */
  #renewIfDue(): boolean {
    const policy = this.#policy;
    const head = this.#queue.head;
    if (!policy || !this.#ws || !this.#ready || head?.begun || this.#closed || this.#fatal) return false;
    if (!head && this.#ending) return false;
    const ageMs = this.#clock.now() - this.#openedAt;
    const aged = policy.rotateAfterMs !== undefined && ageMs >= policy.rotateAfterMs;
    const wanted = policy.gate?.contended === true && (!head || this.#sessionFinals > 0);
    if (!aged && !wanted) return false;
    const entry = { ageMs: Math.round(ageMs), finals: this.#sessionFinals, pending: this.#queue.length };
    if (aged) {
      this.log.info(entry, 'speech engine session renewed between utterances, before its age limit');
      this.#observer.sessionRotated?.();
    } else this.log.debug(entry, 'speech engine session given back between utterances: another leg waits');
    this.#dropSocket(true);
    if (head || !wanted) this.#connect();
    return true;
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
