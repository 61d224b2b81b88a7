import type { FastifyBaseLogger } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import { isVoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, CallStart, CallTransport, LegLabels, LegSpec } from '../carrier.js';
import { CLOSE, closeReason } from '../ws-close.js';
import { type MalformedReason, type MediaFrame, parsePlivoMessage } from './codec.js';
import type { StartMessage } from './messages.js';
import { PlivoOutbound } from './outbound.js';
import type { StreamGrant } from './stream-token.js';
import { TrackClock } from './track-clock.js';

const LOUD_WARNINGS = 5; // per socket; later malformed messages log at debug level, all are counted
const MAX_EXTRA_HEADERS = 16;

export interface PlivoSessionContext {
  /** The mode when the stream URL grants none (a stream opened on a V3-signed upgrade). */
  readonly mode: CallMode;
  readonly legs: LegLabels;
  /** When set, a start naming another account is refused. */
  readonly authId: string | undefined;
  /** What the stream URL's token allows: that call only, in that mode. */
  readonly grant: StreamGrant | undefined;
  readonly media: Pick<MediaLimits, 'handshakeTimeoutMs' | 'maxMessageBytes' | 'maxMalformedPerCall'>;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
}

/**
 * One Plivo Audio Streaming WebSocket: `start` into a CallStart, then media into the call's legs.
 * Bad frames are counted and logged; the call goes on unless the stream can no longer be trusted
 * (then the socket closes with a code and reason, and the call is finalized).
 */
export class PlivoMediaSession implements CallTransport {
  readonly #socket: WebSocket;
  readonly #ctx: PlivoSessionContext;
  #log: FastifyBaseLogger;
  #call: Call | undefined;
  #outbound: PlivoOutbound | undefined;
  #clock: TrackClock | undefined;
  #lastSequence: number | undefined;
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  #sentCloseCode: number | undefined;
  #closing = false;
  #handshakeTimer: NodeJS.Timeout;

  constructor(socket: WebSocket, ctx: PlivoSessionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#log = ctx.log;
    // Attached before anything awaits: Plivo sends start right after the upgrade.
    socket.on('message', (data, isBinary) => {
      // A containment boundary: an unexpected throw ends this stream (1011), never the process.
      try {
        this.#onMessage(data, isBinary);
      } catch (err) {
        this.#handlerFailed(err);
      }
    });
    socket.on('close', (code) => this.#onClose(code));
    socket.on('error', (err) => this.#onError(err));
    const { handshakeTimeoutMs } = ctx.media;
    this.#handshakeTimer = setTimeout(() => {
      ctx.metrics.callsRefused.inc({ reason: 'handshake_timeout' });
      this.#fail(CLOSE.policyViolation, `no start message within ${handshakeTimeoutMs} ms`);
    }, handshakeTimeoutMs);
    this.#handshakeTimer.unref();
  }

  /** CallTransport: the core ends the call (idle timeout, shutdown). */
  close(code: number, reason: string): void {
    this.#endReason ??= reason;
    this.#sentCloseCode ??= code;
    this.#socket.close(code, closeReason(reason));
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.#reject('binary_frame', 'audio streams carry JSON text frames');
      return;
    }
    const message = parsePlivoMessage(data as Buffer);
    const call = this.#call;
    call?.noteActivity();
    if (message.event === 'malformed') {
      this.#reject(message.reason, message.detail);
      return;
    }
    if (message.event === 'start') {
      if (call) this.#reject('duplicate_start', `stream ${message.start.streamId} already started`);
      else this.#start(message);
      return;
    }
    if (!call) {
      if (message.event === 'media') {
        this.#ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
        this.#fail(CLOSE.policyViolation, 'media before start');
      } else this.#reject('media_before_start', `${message.event} before start`);
      return;
    }
    if (message.streamId !== undefined && message.streamId !== call.start.streamSid) {
      this.#reject('wrong_stream', message.streamId);
      return;
    }
    if (message.sequenceNumber !== undefined) this.#sequence(call, Number(message.sequenceNumber));
    switch (message.event) {
      case 'media':
        this.#media(call, message);
        return;
      case 'dtmf':
        call.recordDtmf(message.dtmf.digit, 'inbound'); // Plivo reports the caller's keys
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'playedStream':
        if (!this.#outbound?.played(message.name)) {
          call.log.debug({ checkpoint: message.name }, 'playedStream with no checkpoint waiting');
        }
        return;
      case 'clearedAudio':
        this.#outbound?.cleared();
        return;
      case 'stop':
        this.#endReason = 'stop';
        void call.end('stop');
        this.#sentCloseCode ??= CLOSE.normal;
        this.#socket.close(CLOSE.normal, 'stream stopped');
        return;
    }
  }

  #media(call: Call, message: MediaFrame): void {
    const leg = call.legs.get(message.track);
    if (!leg) {
      this.#reject('unknown_track', `track ${message.track} was not announced in start`);
      return;
    }
    const clock = this.#clock as TrackClock;
    const atMs = clock.place(message.track, message.timestampMs, message.payload.length / 8);
    if (atMs === undefined) {
      this.#reject('bad_timestamp', `${message.timestampMs} is too far from the stream's first`);
      return;
    }
    leg.pushMulaw(atMs, message.payload);
  }

  #start(message: StartMessage): void {
    const { start } = message;
    const { registry, metrics, grant, authId } = this.#ctx;
    const format = start.mediaFormat;
    if (format.encoding !== 'audio/x-mulaw' || format.sampleRate !== 8000) {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.#fail(CLOSE.unsupportedData, `unsupported media format ${format.encoding}/${format.sampleRate}`);
      return;
    }
    // The token was made for one call: a stream for any other is not the one Plivo was told to open.
    if (grant && grant.callUuid !== start.callId) {
      metrics.callsRefused.inc({ reason: 'stream_token_mismatch' });
      this.#fail(CLOSE.policyViolation, 'the stream token was issued for another call');
      return;
    }
    if (authId !== undefined && start.accountId !== authId) {
      metrics.callsRefused.inc({ reason: 'wrong_account' });
      this.#fail(CLOSE.policyViolation, 'the stream names another Plivo account');
      return;
    }
    // One stream per call: a token replayed after its call ended must not reopen it.
    if (registry.get(start.callId)?.state === 'ended') {
      metrics.callsRefused.inc({ reason: 'stream_replayed' });
      this.#fail(CLOSE.policyViolation, 'this call has already had its stream');
      return;
    }
    const mode = grant?.mode ?? this.#ctx.mode;
    const labels = { inbound: this.#ctx.legs.inbound, outbound: this.#ctx.legs.outbound };
    const bidirectional = mode === 'agent';
    // A bidirectional Plivo stream carries the caller only (Plivo refuses the other tracks then).
    const tracks = bidirectional ? start.tracks.filter((t) => t === 'inbound') : start.tracks;
    if (tracks.length === 0) {
      metrics.callsRefused.inc({ reason: 'no_inbound_track' });
      this.#fail(CLOSE.policyViolation, 'an agent-mode stream must carry the inbound track');
      return;
    }
    const callStart: CallStart = {
      ingress: 'plivo',
      callSid: start.callId,
      streamSid: start.streamId,
      accountSid: start.accountId || undefined,
      tracks,
      legs: tracks.map((track): LegSpec => ({ track, label: labels[track] })),
      agentLabel: labels.outbound,
      customParameters: readExtraHeaders(message.extra_headers),
      mode,
      bidirectional,
    };
    const log = this.#ctx.log.child({ callSid: start.callId, streamSid: start.streamId });
    const outbound = bidirectional ? new PlivoOutbound(this.#socket, start.streamId) : undefined;
    let call: Call;
    try {
      call = registry.open(callStart, this, log, outbound);
    } catch (err) {
      if (!isVoxlineError(err)) throw err;
      metrics.callsRefused.inc({ reason: err.code });
      log.warn({ code: err.code }, err.message);
      const code = err.code === 'VL_ERR_DUPLICATE_CALL' ? CLOSE.policyViolation : CLOSE.tryAgainLater;
      this.#fail(code, err.message.slice(0, 120));
      return;
    }
    clearTimeout(this.#handshakeTimer);
    this.#call = call;
    this.#outbound = outbound;
    this.#clock = new TrackClock();
    this.#log = log;
    if (message.sequenceNumber !== undefined) this.#lastSequence = Number(message.sequenceNumber);
    if (outbound) call.scope.defer(() => outbound.end());
    log.info({ tracks, legs: callStart.legs, mode }, 'call started');
  }

  #sequence(call: Call, sequence: number): void {
    const last = this.#lastSequence;
    if (last !== undefined && sequence > last + 1) call.countSequenceGap(sequence - last - 1);
    if (last === undefined || sequence > last) this.#lastSequence = sequence;
  }

  /** A bad message: counted and logged; the stream goes on until too many arrive. */
  #reject(reason: MalformedReason, detail: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
    const call = this.#call;
    const count = call ? call.countMalformed(reason) : ++this.#malformedBeforeStart;
    const level = count <= LOUD_WARNINGS ? 'warn' : 'debug';
    this.#log[level]({ reason, detail, count }, 'malformed audio stream message');
    const limit = this.#ctx.media.maxMalformedPerCall;
    if (count >= limit) this.#fail(CLOSE.policyViolation, `too many malformed messages (${count})`);
  }

  #handlerFailed(err: unknown): void {
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'plivo' });
    (this.#call?.log ?? this.#log).error({ err }, 'audio stream message handling failed: ending this stream');
    this.#endReason ??= 'internal_error';
    this.#fail(CLOSE.internalError, 'internal error');
  }

  /** The stream cannot go on: close it with a code and reason; the close handler finalizes. */
  #fail(code: number, reason: string): void {
    // Once closing, the peer's messages still arrive until its close frame does: one warning only.
    if (this.#closing) return;
    this.#closing = true;
    this.#endReason ??= `protocol_error: ${reason}`;
    this.#sentCloseCode ??= code;
    this.#log.warn({ code, reason }, 'closing audio stream');
    try {
      this.#socket.close(code, closeReason(reason));
    } catch {
      this.#socket.terminate(); // never leave a socket open that voxline meant to close
    }
  }

  #onClose(code: number): void {
    clearTimeout(this.#handshakeTimer);
    this.#ctx.metrics.socketsClosed.inc({ code: String(code) });
    const call = this.#call;
    if (!call || call.state === 'ended') return;
    call.noteClose(this.#sentCloseCode ?? code);
    // Plivo ends a stream by closing the socket (its protocol has no stop message).
    void call.end(this.#endReason ?? endReasonForCode(code));
  }

  #onError(err: Error & { code?: string }): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#endReason ??= 'message_too_big';
      this.#sentCloseCode ??= CLOSE.messageTooBig;
      this.#reject('message_too_big', `frame over ${this.#ctx.media.maxMessageBytes} bytes`);
    } else if (err.code?.startsWith('WS_ERR_')) {
      this.#endReason ??= `protocol_error: ${err.message}`;
      this.#sentCloseCode ??= err.code === 'WS_ERR_INVALID_UTF8' ? CLOSE.invalidPayload : CLOSE.protocolError;
      this.#reject('invalid_frame', err.message);
    } else {
      this.#log.warn({ err }, 'audio socket error');
    }
  }
}

/** `extraHeaders` from the <Stream> (`k=v` pairs of letters and digits, `,` or `;` between). */
export function readExtraHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(/[,;]/).slice(0, MAX_EXTRA_HEADERS)) {
    const match = /^([A-Za-z0-9]{1,64})=([A-Za-z0-9]{0,256})$/.exec(pair.trim());
    if (match) out[match[1]] = match[2];
  }
  return out;
}

function endReasonForCode(code: number): string {
  if (code === 1000 || code === 1005) return 'socket_closed';
  if (code === 1006) return 'connection_lost';
  return `socket_closed_${code}`;
}
