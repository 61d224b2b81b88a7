import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { pcmFromLittleEndian } from '../../audio/pcm16le.js';
import type { Call } from '../../calls/call.js';
import type { Clock, TimerHandle } from '../../clock.js';
import { type ErrorCode, isVoxlineError } from '../../errors.js';
import type { CallStart, CallTransport, LegSpec } from '../carrier.js';
import type { EdgeContext } from '../edge-context.js';
import { CLOSE, closeReason } from '../ws-close.js';
import {
  audioProblem,
  BROWSER_RATE,
  type BrowserMalformedReason,
  type BrowserStart,
  parseBrowserMessage,
} from './browser-messages.js';
import { BrowserOutbound } from './browser-outbound.js';

/** How far ahead of the wall clock a page may send audio (a file is streamed at real-time pace). */
export const MAX_AHEAD_MS = 2000;
const LOUD_WARNINGS = 5;

export interface BrowserEdgeContext extends EdgeContext {
  /** Timers and the monotonic time the pacing guard and handshake timeout run on. */
  readonly timers: Clock;
  /** A new call id (`BR` and 32 hex digits). */
  readonly newCallSid?: () => string;
}

export function newBrowserCallSid(): string {
  return `BR${randomBytes(16).toString('hex')}`;
}

/**
 * One call from a browser page (docs/carriers/browser.md): a `start` message opens the call, then
 * binary PCM16LE at 16 kHz (stereo interleaved: caller left, agent right) feeds its legs, text
 * messages carry DTMF and hang-up; in agent mode voxline's voice comes back as paced binary frames.
 * Bad messages are counted and the call goes on until too many arrive; nothing a page sends can
 * do more than end its own call.
 */
export class BrowserSession implements CallTransport {
  readonly #socket: WebSocket;
  readonly #ctx: BrowserEdgeContext;
  #log: FastifyBaseLogger;
  #call: Call | undefined;
  #channels: 1 | 2 = 1;
  #tracks: readonly string[] = [];
  #outbound: BrowserOutbound | undefined;
  #startedAt = 0;
  /** Samples per channel received (and kept) so far: where the next message starts. */
  #position = 0;
  #droppedSamples = 0;
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  #sentCloseCode: number | undefined;
  #closing = false;
  #handshakeTimer: TimerHandle | undefined;

  constructor(socket: WebSocket, ctx: BrowserEdgeContext, log: FastifyBaseLogger) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#log = log;
    socket.on('message', (data, isBinary) => {
      // A containment boundary: an unexpected throw ends this call (1011), never the process.
      try {
        this.#onMessage(data as Buffer, isBinary);
      } catch (err) {
        this.#handlerFailed(err);
      }
    });
    socket.on('close', (code) => this.#onClose(code));
    socket.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself (1009 for an oversized frame); counted here.
      this.#endReason ??=
        err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'message_too_big' : 'protocol_error';
      this.#ctx.metrics.malformedMessages.inc({ reason: 'invalid_frame' });
      this.#log.debug({ code: err.code }, 'browser call socket error');
    });
    const { handshakeTimeoutMs } = ctx.media;
    this.#handshakeTimer = ctx.timers.setTimeout(() => {
      this.#refuse(
        'handshake_timeout',
        'VL_ERR_BAD_REQUEST',
        `no start message within ${handshakeTimeoutMs} ms`,
      );
    }, handshakeTimeoutMs);
    this.#handshakeTimer.unref();
  }

  /** CallTransport: the call ends from voxline's side (hang-up, agent's end_call, idle, shutdown). */
  close(code: number, reason: string): void {
    this.#endReason ??= reason;
    this.#sentCloseCode ??= code;
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify({ type: 'ended', reason }));
    this.#socket.close(code, closeReason(reason));
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    // Refused, or over: what the page sends until its close frame arrives is read and dropped,
    // so that it can neither open a call after a refusal nor add to a call that has ended.
    if (this.#closing || this.#call?.state === 'ended') return;
    this.#call?.noteActivity();
    if (isBinary) {
      this.#audio(data);
      return;
    }
    const message = parseBrowserMessage(data);
    switch (message.type) {
      case 'start':
        if (this.#call) this.#reject('duplicate_start', 'the call has started');
        else this.#start(message);
        return;
      case 'dtmf':
        if (!this.#call) {
          this.#reject('audio_before_start', 'dtmf before start');
          return;
        }
        this.#call.recordDtmf(message.digit, 'inbound');
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        this.#call.log.debug({ dtmf: this.#call.dtmf.length, atMs: this.#call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'hangup':
        if (this.#call) void this.#call.hangUp(CLOSE.normal, 'hangup', 'hangup');
        else {
          this.#closing = true;
          this.#ctx.timers.clearTimeout(this.#handshakeTimer);
          this.#socket.close(CLOSE.normal, 'hangup');
        }
        return;
      case 'malformed':
        if (message.reason === 'bad_start' && !this.#call) {
          this.#refuse('bad_start', 'VL_ERR_BAD_REQUEST', message.detail);
          return;
        }
        this.#reject(message.reason, message.detail);
        return;
    }
  }

  #start(message: BrowserStart): void {
    const { registry, metrics, legs: labels } = this.#ctx;
    const callSid = (this.#ctx.newCallSid ?? newBrowserCallSid)();
    const legs: LegSpec[] = [
      { track: 'inbound', label: labels.inbound, codec: 'l16', sampleRate: BROWSER_RATE },
      ...(message.channels === 2
        ? [{ track: 'outbound', label: labels.outbound, codec: 'l16' as const, sampleRate: BROWSER_RATE }]
        : []),
    ];
    const start: CallStart = {
      ingress: 'browser',
      callSid,
      streamSid: callSid,
      tracks: legs.map((l) => l.track),
      legs,
      participants: [{ role: labels.inbound, name: message.name ?? 'browser' }],
      agentLabel: labels.outbound,
      customParameters: message.parameters,
      mode: message.mode,
      bidirectional: message.mode === 'agent',
    };
    const log = this.#ctx.log.child({ callSid, ingress: 'browser' });
    const outbound =
      message.mode === 'agent'
        ? new BrowserOutbound(this.#ctx.clock, this.#socket, log, (err) => {
            metrics.ingress.failures.inc({ ingress: 'browser' });
            log.error({ err }, 'browser call audio out failed: ending the call');
            void this.#call?.hangUp(CLOSE.internalError, 'internal error', 'internal_error');
          })
        : undefined;
    let call: Call;
    try {
      call = registry.open(start, this, log, outbound);
    } catch (err) {
      outbound?.end();
      if (!isVoxlineError(err)) throw err;
      const close = err.code === 'VL_ERR_DUPLICATE_CALL' ? CLOSE.policyViolation : CLOSE.tryAgainLater;
      this.#refuse(err.code, err.code, err.message, close);
      return;
    }
    this.#ctx.timers.clearTimeout(this.#handshakeTimer);
    this.#call = call;
    this.#log = log;
    this.#channels = message.channels;
    this.#tracks = start.tracks;
    this.#outbound = outbound;
    this.#startedAt = this.#ctx.timers.now();
    if (outbound) call.scope.defer(() => outbound.end());
    this.#socket.send(
      JSON.stringify({ type: 'started', callSid, legs: legs.map((l) => l.label), mode: message.mode }),
    );
    log.info({ legs: legs.map((l) => l.label), mode: message.mode }, 'browser call started');
  }

  #audio(data: Buffer): void {
    const call = this.#call;
    if (!call) {
      this.#refuse('audio_before_start', 'VL_ERR_BAD_REQUEST', 'audio before the start message');
      return;
    }
    const problem = audioProblem(data.length, this.#channels);
    if (problem) {
      this.#reject(problem.reason, problem.detail);
      return;
    }
    const samples = data.length / (2 * this.#channels);
    // A page may run ahead of real time (a file sent at once, a tab catching up) by MAX_AHEAD_MS;
    // beyond that the audio is dropped and counted, so no page can feed a call faster than it lasts.
    const allowed =
      Math.floor((this.#ctx.timers.now() - this.#startedAt + MAX_AHEAD_MS) * 16) - this.#position;
    const keep = Math.max(0, Math.min(samples, allowed));
    if (keep < samples) {
      if (this.#droppedSamples === 0)
        call.log.warn({ aheadMs: MAX_AHEAD_MS }, 'page sends audio faster than real time: excess dropped');
      this.#droppedSamples += samples - keep;
      this.#ctx.metrics.ingress.refused.inc({ ingress: 'browser', reason: 'ahead_of_real_time' });
    }
    if (keep === 0) return;
    const channels = pcmFromLittleEndian(data.subarray(0, keep * 2 * this.#channels), this.#channels);
    for (let c = 0; c < channels.length; c++)
      call.legs.get(this.#tracks[c])?.pushPcm(this.#position, channels[c]);
    this.#position += keep;
  }

  /** A bad message on an open call (or before it): counted; the call ends after too many. */
  #reject(reason: BrowserMalformedReason, detail: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
    const call = this.#call;
    const count = call ? call.countMalformed(reason) : ++this.#malformedBeforeStart;
    this.#log[count <= LOUD_WARNINGS ? 'warn' : 'debug'](
      { reason, detail, count },
      'malformed browser call message',
    );
    if (count < this.#ctx.media.maxMalformedPerCall) return;
    if (call)
      void call.hangUp(CLOSE.policyViolation, `too many malformed messages (${count})`, 'protocol_error');
    else this.#refuse('too_many_malformed', 'VL_ERR_BAD_REQUEST', `too many malformed messages (${count})`);
  }

  /** No call (yet): tell the page why in an `error` message, then close. */
  #refuse(reason: string, code: ErrorCode, message: string, closeCode: number = CLOSE.policyViolation): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ctx.timers.clearTimeout(this.#handshakeTimer);
    this.#ctx.metrics.ingress.refused.inc({ ingress: 'browser', reason });
    this.#log.warn({ reason, detail: message }, 'browser call refused');
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify({ type: 'error', code, message }));
    this.#socket.close(closeCode, closeReason(message));
  }

  #handlerFailed(err: unknown): void {
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'browser' });
    this.#log.error({ err }, 'browser call message handling failed: ending this call');
    if (this.#call) void this.#call.hangUp(CLOSE.internalError, 'internal error', 'internal_error');
    else this.#socket.terminate();
  }

  #onClose(code: number): void {
    this.#ctx.timers.clearTimeout(this.#handshakeTimer);
    this.#outbound?.end();
    this.#ctx.metrics.socketsClosed.inc({ code: String(code) });
    const call = this.#call;
    if (!call) return;
    if (this.#droppedSamples > 0) {
      call.log.warn(
        { droppedAheadMs: this.#droppedSamples / 16, receivedMs: this.#position / 16 },
        'audio sent ahead of real time was dropped',
      );
    }
    if (call.state === 'ended') return;
    call.noteClose(this.#sentCloseCode ?? code);
    void call.end(
      this.#endReason ?? (code === 1000 || code === 1001 || code === 1005 ? 'hangup' : 'connection_lost'),
    );
  }
}
