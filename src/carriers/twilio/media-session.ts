import type { FastifyBaseLogger } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import { isVoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, CallStart, CallTransport, LegLabels, LegSpec } from '../carrier.js';
import { CLOSE, closeReason } from '../ws-close.js';
import { type MalformedReason, parseTwilioMessage } from './codec.js';
import type { StartMessage } from './messages.js';
import { TwilioOutbound } from './outbound.js';

/** Custom parameters voxline's own TwiML sets (twiml.ts); other TwiML may omit them. */
export const PARAM = {
  mode: 'voxlineMode',
  inboundLabel: 'inboundLabel',
  outboundLabel: 'outboundLabel',
} as const;

const LABEL = /^[a-z][a-z0-9_-]{0,31}$/;
const LOUD_WARNINGS = 5; // per socket; later malformed messages log at debug level, all are counted

export interface MediaSessionContext {
  /** The mode when the stream's parameters name none (TwiML from elsewhere). */
  readonly mode: CallMode;
  /** The labels when the stream's parameters name none. */
  readonly legs: LegLabels;
  readonly media: Pick<MediaLimits, 'handshakeTimeoutMs' | 'maxMessageBytes' | 'maxMalformedPerCall'>;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
}

/**
 * One Twilio Media Streams WebSocket: handshake (connected → start) into a CallStart, then media
 * into the call's legs. Bad frames are counted and logged; the call goes on unless the stream can
 * no longer be trusted (then the socket closes with a code and reason, and the call is finalized).
 */
export class TwilioMediaSession implements CallTransport {
  /** CallTransport: Twilio's REST API acts on the call by its CallSid (end_call, transfer_call). */
  readonly remotelyControlled = true;
  readonly #socket: WebSocket;
  readonly #ctx: MediaSessionContext;
  #log: FastifyBaseLogger;
  #call: Call | undefined;
  #outbound: TwilioOutbound | undefined;
  #lastSequence: number | undefined;
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  /** The close code voxline sent, when it closed first (the peer's reply may never be read). */
  #sentCloseCode: number | undefined;
  /** #fail has closed the socket (it closes and warns once per session). */
  #closing = false;
  #handshakeTimer: NodeJS.Timeout;

  constructor(socket: WebSocket, ctx: MediaSessionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#log = ctx.log;
    // Attached before anything awaits: Twilio sends connected and start right after the upgrade.
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
      this.#reject('binary_frame', 'media streams carry JSON text frames');
      return;
    }
    const message = parseTwilioMessage(data as Buffer);
    const call = this.#call;
    call?.noteActivity();
    switch (message.event) {
      case 'media': {
        if (!call) {
          this.#ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
          this.#fail(CLOSE.policyViolation, 'media before start');
          return;
        }
        if (message.streamSid !== call.start.streamSid) {
          this.#reject('wrong_stream', message.streamSid);
          return;
        }
        const leg = call.legs.get(message.track);
        if (!leg) {
          this.#reject('unknown_track', `track ${message.track} was not announced in start`);
          return;
        }
        this.#sequence(call, message.sequenceNumber);
        leg.pushMulaw(message.timestampMs, message.payload);
        return;
      }
      case 'start':
        if (call) {
          this.#reject('duplicate_start', `stream ${message.streamSid} already started`);
          return;
        }
        this.#start(message);
        return;
      case 'connected':
        this.#log.debug({ protocol: message.protocol, version: message.version }, 'media stream connected');
        return;
      case 'mark':
        if (!call) {
          this.#reject('media_before_start', 'mark before start');
          return;
        }
        this.#sequence(call, Number(message.sequenceNumber));
        if (!this.#outbound?.acknowledge(message.mark.name)) {
          call.log.debug({ mark: message.mark.name }, 'mark echo with no mark waiting');
        }
        return;
      case 'dtmf':
        if (!call) {
          this.#reject('media_before_start', 'dtmf before start');
          return;
        }
        this.#sequence(call, Number(message.sequenceNumber));
        call.recordDtmf(message.dtmf.digit, 'inbound'); // Twilio sends caller DTMF only ("inbound_track")
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'stop':
        this.#endReason = 'stop';
        if (call) {
          this.#sequence(call, Number(message.sequenceNumber));
          void call.end('stop');
        }
        this.#sentCloseCode ??= CLOSE.normal;
        this.#socket.close(CLOSE.normal, 'stream stopped');
        return;
      case 'malformed':
        this.#reject(message.reason, message.detail);
        return;
    }
  }

  #start(message: StartMessage): void {
    const { start } = message;
    const { registry, metrics } = this.#ctx;
    const format = start.mediaFormat;
    if (format.encoding !== 'audio/x-mulaw' || format.sampleRate !== 8000 || format.channels !== 1) {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      const got = `${format.encoding}/${format.sampleRate}/${format.channels}`;
      this.#fail(CLOSE.unsupportedData, `unsupported media format ${got}`.slice(0, 120));
      return;
    }
    const params = start.customParameters ?? {};
    const mode = readMode(params[PARAM.mode]) ?? this.#ctx.mode;
    const labels = readLabels(params, this.#ctx.legs);
    const callStart: CallStart = {
      ingress: 'twilio',
      callSid: start.callSid,
      streamSid: start.streamSid,
      accountSid: start.accountSid,
      tracks: start.tracks,
      legs: start.tracks.map((track): LegSpec => ({ track, label: labels[track] })),
      agentLabel: labels.outbound,
      customParameters: params,
      mode,
      bidirectional: mode === 'agent',
    };
    const log = this.#ctx.log.child({ callSid: start.callSid, streamSid: start.streamSid });
    const outbound = callStart.bidirectional ? new TwilioOutbound(this.#socket, start.streamSid) : undefined;
    this.#outbound = outbound;
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
    this.#log = log;
    this.#lastSequence = Number(message.sequenceNumber);
    if (outbound) call.scope.defer(() => outbound.end());
    log.info({ tracks: start.tracks, legs: callStart.legs, mode }, 'call started');
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
    this.#log[level]({ reason, detail, count }, 'malformed media stream message');
    const limit = this.#ctx.media.maxMalformedPerCall;
    if (count >= limit) this.#fail(CLOSE.policyViolation, `too many malformed messages (${count})`);
  }

  #handlerFailed(err: unknown): void {
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'twilio' });
    (this.#call?.log ?? this.#log).error({ err }, 'media message handling failed: ending this stream');
    this.#endReason ??= 'internal_error';
    this.#fail(CLOSE.internalError, 'internal error');
  }

  /** The stream cannot go on: close it with a code and reason; the close handler finalizes. */
  #fail(code: number, reason: string): void {
    // Once closing, the peer's messages still arrive until its close frame does: each would
    // fail again, and a warning apiece would let one bad peer flood the log.
    if (this.#closing) return;
    this.#closing = true;
    this.#endReason ??= `protocol_error: ${reason}`;
    this.#sentCloseCode ??= code;
    this.#log.warn({ code, reason }, 'closing media stream');
    try {
      // A close reason is at most 123 bytes (RFC 6455 §5.5): peer text in it is cut by bytes.
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
    void call.end(this.#endReason ?? endReasonForCode(code));
  }

  #onError(err: Error & { code?: string }): void {
    // Frames ws refuses: it closes the socket itself, with the code noted here.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#endReason ??= 'message_too_big';
      this.#sentCloseCode ??= CLOSE.messageTooBig;
      this.#reject('message_too_big', `frame over ${this.#ctx.media.maxMessageBytes} bytes`);
    } else if (err.code?.startsWith('WS_ERR_')) {
      this.#endReason ??= `protocol_error: ${err.message}`;
      this.#sentCloseCode ??= err.code === 'WS_ERR_INVALID_UTF8' ? CLOSE.invalidPayload : CLOSE.protocolError;
      this.#reject('invalid_frame', err.message);
    } else {
      this.#log.warn({ err }, 'media socket error');
    }
  }
}

/** The `voxlineMode` parameter voxline's TwiML (or cXML) set, if it is one. */
export function readMode(value: string | undefined): CallMode | undefined {
  return value === 'agent' || value === 'transcribe' ? value : undefined;
}

/** The leg labels voxline's TwiML (or cXML) set, when they are valid; else the defaults. */
export function readLabels(
  params: Readonly<Record<string, string>>,
  defaults: LegLabels,
): Record<'inbound' | 'outbound', string> {
  const inbound = params[PARAM.inboundLabel];
  const outbound = params[PARAM.outboundLabel];
  if (inbound && outbound && inbound !== outbound && LABEL.test(inbound) && LABEL.test(outbound)) {
    return { inbound, outbound };
  }
  return { inbound: defaults.inbound, outbound: defaults.outbound };
}

function endReasonForCode(code: number): string {
  if (code === 1000 || code === 1005) return 'socket_closed';
  if (code === 1006) return 'connection_lost';
  return `socket_closed_${code}`;
}
