import type { FastifyBaseLogger } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import { isVoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallStart, CallTransport, LegLabels } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { CLOSE, closeReason } from '../ws-close.js';
import { decodeAudio, headersOf, type MalformedReason, parseVonageText, rateOf } from './codec.js';
import type { MediaGrant } from './media-token.js';
import type { ConnectedMessage } from './messages.js';
import { VonageOutbound } from './outbound.js';

/** The NCCO header that names the call (vonage-routes.ts sets it; it must match the signed URL). */
export const CALL_HEADER = 'voxlineCall';
/** The socket's one leg: what the Vonage call leg hears, i.e. the caller. */
const TRACK = 'inbound';
const LOUD_WARNINGS = 5; // per socket; later malformed frames log at debug level, all are counted

export interface VonageSessionContext {
  /** What the signed media URL grants: the call and its mode. */
  readonly grant: MediaGrant;
  readonly legs: LegLabels;
  readonly media: Pick<MediaLimits, 'handshakeTimeoutMs' | 'maxMessageBytes' | 'maxMalformedPerCall'>;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Paces agent audio out. */
  readonly clock: MediaClock;
  readonly log: FastifyBaseLogger;
}

/**
 * One Vonage WebSocket: `websocket:connected` (text) opens the call, then binary frames of
 * 16-bit little-endian PCM are the caller's leg, laid end to end (Vonage stamps none), and text
 * frames carry DTMF and the echoes of voxline's notify and clear. Bad frames are counted and
 * logged; the call goes on unless the stream can no longer be trusted (then the socket closes
 * with a code and reason, and the call is finalized).
 */
export class VonageMediaSession implements CallTransport {
  readonly #socket: WebSocket;
  readonly #ctx: VonageSessionContext;
  #log: FastifyBaseLogger;
  #call: Call | undefined;
  #outbound: VonageOutbound | undefined;
  /** Samples of the caller's leg received so far: where the next frame starts. */
  #position = 0;
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  #sentCloseCode: number | undefined;
  #closing = false;
  readonly #handshakeTimer: NodeJS.Timeout;

  constructor(socket: WebSocket, ctx: VonageSessionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ callSid: ctx.grant.callSid });
    // Attached before anything awaits: Vonage sends websocket:connected right after the upgrade.
    socket.on('message', (data, isBinary) => {
      // A containment boundary: an unexpected throw ends this stream (1011), never the process.
      try {
        this.#onMessage(data as Buffer, isBinary);
      } catch (err) {
        this.#handlerFailed(err);
      }
    });
    socket.on('close', (code) => this.#onClose(code));
    socket.on('error', (err) => this.#onError(err));
    const { handshakeTimeoutMs } = ctx.media;
    this.#handshakeTimer = setTimeout(() => {
      ctx.metrics.callsRefused.inc({ reason: 'handshake_timeout' });
      this.#fail(CLOSE.policyViolation, `no websocket:connected within ${handshakeTimeoutMs} ms`);
    }, handshakeTimeoutMs);
    this.#handshakeTimer.unref();
  }

  /** CallTransport: the core ends the call (idle timeout, shutdown, the agent hanging up). */
  close(code: number, reason: string): void {
    this.#endReason ??= reason;
    this.#sentCloseCode ??= code;
    this.#socket.close(code, closeReason(reason));
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const call = this.#call;
    call?.noteActivity();
    if (isBinary) {
      if (!call) {
        this.#ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
        this.#fail(CLOSE.policyViolation, 'audio before websocket:connected');
        return;
      }
      this.#audio(call, data as Buffer);
      return;
    }
    const message = parseVonageText(data as Buffer);
    switch (message.event) {
      case 'websocket:connected':
        if (call) this.#reject('duplicate_start', 'a second websocket:connected');
        else this.#start(message);
        return;
      case 'websocket:dtmf':
        if (!call) {
          this.#reject('media_before_start', 'dtmf before websocket:connected');
          return;
        }
        call.recordDtmf(message.digit, TRACK); // the caller's keys: the socket is the caller's leg
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'websocket:notify':
        if (!this.#outbound?.acknowledge(message.payload)) {
          this.#log.debug('notify echo with no mark waiting');
        }
        return;
      case 'websocket:cleared':
        this.#log.debug('Vonage cleared its audio queue');
        return;
      case 'other':
        this.#log.debug({ event: message.name }, 'Vonage event ignored');
        return;
      case 'malformed':
        this.#reject(message.reason, message.detail);
        return;
    }
  }

  #audio(call: Call, bytes: Buffer): void {
    const decoded = decodeAudio(bytes);
    if ('event' in decoded) {
      this.#reject(decoded.reason, decoded.detail);
      return;
    }
    if (decoded.odd) this.#reject('odd_audio_length', `${bytes.length} bytes`);
    if (decoded.pcm.length === 0) return;
    call.legs.get(TRACK)?.pushPcm(this.#position, decoded.pcm);
    this.#position += decoded.pcm.length;
  }

  #start(message: ConnectedMessage): void {
    const { grant, registry, metrics, legs } = this.#ctx;
    const rate = rateOf(message['content-type']);
    if (rate === undefined) {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.#fail(CLOSE.unsupportedData, `unsupported content-type ${message['content-type']}`.slice(0, 120));
      return;
    }
    const headers = headersOf(message);
    const named = headers[CALL_HEADER];
    if (named !== undefined && named !== grant.callSid) {
      this.#reject('invalid_message', 'websocket:connected names another call than its URL');
      this.#fail(CLOSE.policyViolation, 'call header does not match the signed URL');
      return;
    }
    delete headers[CALL_HEADER];
    const callStart: CallStart = {
      ingress: 'vonage',
      callSid: grant.callSid,
      streamSid: grant.callSid, // Vonage names no stream: the socket is the call's one leg
      tracks: [TRACK],
      legs: [{ track: TRACK, label: legs.inbound, codec: 'l16', sampleRate: rate }],
      agentLabel: legs.outbound,
      customParameters: headers,
      mode: grant.mode,
      bidirectional: grant.mode === 'agent',
    };
    const outbound = callStart.bidirectional
      ? new VonageOutbound(this.#ctx.clock, this.#socket, rate, this.#log, (err) => this.#outboundFailed(err))
      : undefined;
    let call: Call;
    try {
      call = registry.open(callStart, this, this.#log, outbound);
    } catch (err) {
      outbound?.end();
      if (!isVoxlineError(err)) throw err;
      metrics.callsRefused.inc({ reason: err.code });
      this.#log.warn({ code: err.code }, err.message);
      const code = err.code === 'VL_ERR_DUPLICATE_CALL' ? CLOSE.policyViolation : CLOSE.tryAgainLater;
      this.#fail(code, err.message.slice(0, 120));
      return;
    }
    clearTimeout(this.#handshakeTimer);
    this.#call = call;
    this.#outbound = outbound;
    this.#log = call.log;
    if (outbound) call.scope.defer(() => outbound.end());
    this.#log.info({ rate, mode: grant.mode, legs: callStart.legs }, 'call started');
  }

  /** A bad frame: counted and logged; the stream goes on until too many arrive. */
  #reject(reason: MalformedReason, detail: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
    const call = this.#call;
    const count = call ? call.countMalformed(reason) : ++this.#malformedBeforeStart;
    const level = count <= LOUD_WARNINGS ? 'warn' : 'debug';
    this.#log[level]({ reason, detail, count }, 'malformed Vonage frame');
    if (count >= this.#ctx.media.maxMalformedPerCall) {
      this.#fail(CLOSE.policyViolation, `too many malformed messages (${count})`);
    }
  }

  #handlerFailed(err: unknown): void {
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'vonage' });
    this.#log.error({ err }, 'Vonage frame handling failed: ending this stream');
    this.#endReason ??= 'internal_error';
    this.#fail(CLOSE.internalError, 'internal error');
  }

  #outboundFailed(err: unknown): void {
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'vonage' });
    this.#log.error({ err }, 'Vonage audio out failed: ending the call');
    this.#endReason ??= 'internal_error';
    this.#fail(CLOSE.internalError, 'internal error');
  }

  /** The stream cannot go on: close it with a code and reason; the close handler finalizes. */
  #fail(code: number, reason: string): void {
    // Once closing, the peer's frames still arrive until its close frame does: one warning only.
    if (this.#closing) return;
    this.#closing = true;
    this.#endReason ??= `protocol_error: ${reason}`;
    this.#sentCloseCode ??= code;
    this.#log.warn({ code, reason }, 'closing Vonage media stream');
    try {
      this.#socket.close(code, closeReason(reason));
    } catch {
      this.#socket.terminate(); // never leave a socket open that voxline meant to close
    }
  }

  #onClose(code: number): void {
    clearTimeout(this.#handshakeTimer);
    this.#ctx.metrics.socketsClosed.inc({ code: String(code) });
    this.#outbound?.end();
    const call = this.#call;
    if (!call || call.state === 'ended') return;
    call.noteClose(this.#sentCloseCode ?? code);
    // Vonage ends a stream by closing the socket (it sends no stop message).
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
      this.#log.warn({ err }, 'Vonage media socket error');
    }
  }
}

function endReasonForCode(code: number): string {
  if (code === 1000 || code === 1005) return 'hangup';
  if (code === 1006) return 'connection_lost';
  return `socket_closed_${code}`;
}
