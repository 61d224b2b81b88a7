import type { FastifyBaseLogger } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import type { LegCodec } from '../../audio/leg-decoder.js';
import type { Call } from '../../calls/call.js';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import { isVoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, CallStart, CallTransport, LegLabels, LegSpec } from '../carrier.js';
import { CLOSE, closeReason } from '../ws-close.js';
import { telnyxCallSid } from './call-id.js';
import {
  l16BigEndianToPcm,
  type MalformedReason,
  type MediaFrame,
  parseTelnyxMessage,
  type TelnyxInbound,
} from './codec.js';
import type { StartMessage } from './messages.js';
import { TelnyxOutbound } from './outbound.js';
import { SequenceReorder } from './sequence-reorder.js';
import type { TelnyxCodec } from './telnyx-config.js';

/** Custom parameters voxline's own TeXML sets (texml.ts); a stream started elsewhere may omit them. */
export const PARAM = {
  mode: 'voxlineMode',
  tracks: 'voxlineTracks',
  inboundLabel: 'inboundLabel',
  outboundLabel: 'outboundLabel',
} as const;

const LABEL = /^[a-z][a-z0-9_-]{0,31}$/;
const LOUD_WARNINGS = 5; // per socket; later malformed messages log at debug level, all are counted
/** A sequence number this far past the expected one is a corrupt frame, not a loss. */
const MAX_SEQUENCE_JUMP = 1000;
const FRAME_MS = 20;
/** L16 rates Telnyx streams (stream_codec L16; bidirectional sampling rates 8–48 kHz). */
const MIN_L16_RATE = 8000;
const MAX_L16_RATE = 48_000;

export interface TelnyxSessionContext {
  /** The mode when the stream's parameters name none. */
  readonly mode: CallMode;
  readonly legs: LegLabels;
  readonly codec: TelnyxCodec;
  readonly media: Pick<
    MediaLimits,
    'handshakeTimeoutMs' | 'maxMessageBytes' | 'maxMalformedPerCall' | 'reorderWindowMs'
  >;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
  /** The call the stream token was minted for: the start frame must name it. */
  readonly boundCallSid: string;
}

/** A message that passed the checks before ordering: delivered in sequence. */
type Sequenced = Exclude<TelnyxInbound, { event: 'malformed' | 'connected' | 'start' }>;

interface Format {
  readonly codec: LegCodec;
  readonly sampleRate: number;
}

/**
 * One Telnyx media streaming WebSocket: handshake (connected → start) into a CallStart, then
 * media, DTMF, marks and stop in sequence_number order (reordered within a bounded window) into
 * the call. Each track's audio is laid end to end on its leg: Telnyx does not document the unit of
 * `media.timestamp`, so the order is the sequence and the length is the payload's. Bad frames are
 * counted and logged; the call goes on unless the stream can no longer be trusted.
 */
export class TelnyxMediaSession implements CallTransport {
  readonly #socket: WebSocket;
  readonly #ctx: TelnyxSessionContext;
  #log: FastifyBaseLogger;
  #call: Call | undefined;
  #streamId: string | undefined;
  #format: Format | undefined;
  #outbound: TelnyxOutbound | undefined;
  #reorder: SequenceReorder<Sequenced> | undefined;
  /** Where each track's next sample goes, in samples at the carrier rate. */
  readonly #positions = new Map<string, number>();
  #malformedBeforeStart = 0;
  #endReason: string | undefined;
  #sentCloseCode: number | undefined;
  #closing = false;
  #stopped = false;
  #handshakeTimer: NodeJS.Timeout;

  constructor(socket: WebSocket, ctx: TelnyxSessionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#log = ctx.log;
    // Attached before anything awaits: Telnyx sends connected and start right after the upgrade.
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

  /** CallTransport: what the reorder step did, shown with the call. */
  mediaStats(): readonly object[] {
    const stats = this.#reorder?.stats;
    return stats ? [{ stream: this.#streamId, ...stats }] : [];
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.#reject('binary_frame', 'media streaming carries JSON text frames');
      return;
    }
    const message = parseTelnyxMessage(data as Buffer);
    const call = this.#call;
    call?.noteActivity();
    switch (message.event) {
      case 'malformed':
        this.#reject(message.reason, message.detail);
        return;
      case 'connected':
        this.#log.debug({ version: message.version }, 'media stream connected');
        return;
      case 'start':
        if (call || this.#closing) {
          this.#reject('duplicate_start', `stream ${message.stream_id} already started`);
          return;
        }
        this.#start(message);
        return;
      case 'media':
        if (!call) {
          this.#ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
          this.#fail(CLOSE.policyViolation, 'media before start');
          return;
        }
        if (message.streamId !== this.#streamId) {
          this.#reject('wrong_stream', message.streamId);
          return;
        }
        this.#order(message.sequence, message);
        return;
      default: {
        if (!call) {
          this.#reject('media_before_start', `${message.event} before start`);
          return;
        }
        const streamId = 'stream_id' in message ? message.stream_id : undefined;
        if (streamId !== undefined && streamId !== this.#streamId) {
          this.#reject('wrong_stream', streamId);
          return;
        }
        // DTMF, marks and stop without a number are not part of the media order: handled now.
        if (message.sequence === undefined) this.#deliver(message);
        else this.#order(message.sequence, message);
      }
    }
  }

  #order(sequence: number, message: Sequenced): void {
    const reorder = this.#reorder as SequenceReorder<Sequenced>;
    const next = reorder.next;
    if (next !== undefined && sequence > next + MAX_SEQUENCE_JUMP) {
      this.#reject('bad_sequence', `sequence_number ${sequence} while ${next} is due`);
      return;
    }
    const before = reorder.stats.missing;
    reorder.push(sequence, message);
    // Stop is the last frame Telnyx sends: what is still missing before it is not coming.
    if (message.event === 'stop' && !this.#stopped) reorder.flush();
    const missing = reorder.stats.missing - before;
    if (missing > 0) this.#call?.countSequenceGap(missing);
  }

  #start(message: StartMessage): void {
    const { start } = message;
    const { registry, metrics } = this.#ctx;
    if (start.call_control_id !== this.#ctx.boundCallSid) {
      metrics.callsRefused.inc({ reason: 'stream_token_mismatch' });
      this.#fail(CLOSE.policyViolation, 'the stream token was issued for another call');
      return;
    }
    const format = readFormat(start.media_format);
    if (typeof format === 'string') {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.#fail(CLOSE.unsupportedData, format.slice(0, 120));
      return;
    }
    const params = start.custom_parameters ?? {};
    const mode = readMode(params[PARAM.mode]) ?? this.#ctx.mode;
    const labels = readLabels(params, this.#ctx.legs);
    // voxline's TeXML streams the caller only in agent mode (its own voice would echo back).
    const tracks =
      readTracks(params[PARAM.tracks]) ?? (mode === 'agent' ? ['inbound'] : ['inbound', 'outbound']);
    const callSid = telnyxCallSid(start.call_control_id);
    const customParameters: Record<string, string> = {
      ...params,
      telnyxCallControlId: start.call_control_id,
    };
    if (start.from) customParameters.from ??= start.from;
    if (start.to) customParameters.to ??= start.to;
    const callStart: CallStart = {
      ingress: 'telnyx',
      callSid,
      streamSid: message.stream_id,
      tracks,
      legs: tracks.map(
        (track): LegSpec => ({
          track,
          label: labels[track],
          codec: format.codec,
          sampleRate: format.sampleRate,
        }),
      ),
      agentLabel: labels.outbound,
      customParameters,
      mode,
      bidirectional: mode === 'agent',
    };
    const log = this.#ctx.log.child({ callSid, streamSid: message.stream_id });
    const outbound = callStart.bidirectional ? new TelnyxOutbound(this.#socket, this.#ctx.codec) : undefined;
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
    this.#streamId = message.stream_id;
    this.#format = format;
    this.#outbound = outbound;
    const window = Math.ceil(this.#ctx.media.reorderWindowMs / FRAME_MS) * tracks.length;
    this.#reorder = new SequenceReorder<Sequenced>(window, (m) => this.#deliver(m));
    if (message.sequence_number !== undefined) this.#reorder.startAfter(Number(message.sequence_number));
    if (outbound) call.scope.defer(() => outbound.end());
    log.info({ tracks, legs: callStart.legs, mode, format }, 'call started');
  }

  /** A message in its place in the stream's order. */
  #deliver(message: Sequenced): void {
    const call = this.#call;
    if (!call || this.#stopped || call.state === 'ended') return;
    switch (message.event) {
      case 'media':
        this.#media(call, message);
        return;
      case 'dtmf':
        call.recordDtmf(message.dtmf.digit.toUpperCase(), 'inbound'); // Telnyx names no track: the caller's keypad
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'mark':
        if (!this.#outbound?.acknowledge(message.mark.name)) {
          call.log.debug({ mark: message.mark.name }, 'mark echo with no mark waiting');
        }
        return;
      case 'error':
        call.recordStatus('stream-error', { ...message.detail });
        call.log.warn({ detail: message.detail }, 'Telnyx reported a media streaming error');
        return;
      case 'stop':
        // Delivered in order, so everything numbered before it is in; what is held is after it.
        this.#stopped = true;
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
      this.#reject('unknown_track', `track ${message.track} was not streamed to this call`);
      return;
    }
    const format = this.#format as Format;
    const at = this.#positions.get(message.track) ?? 0;
    if (format.codec === 'l16') {
      const pcm = l16BigEndianToPcm(message.payload);
      if (!pcm) {
        this.#reject('bad_payload_size', `L16 payload of ${message.payload.length} bytes (odd)`);
        return;
      }
      leg.pushPcm(at, pcm);
      this.#positions.set(message.track, at + pcm.length);
    } else {
      // G.711 and G.722 alike: one byte per 1/8000 s.
      leg.pushBytes(at, message.payload);
      this.#positions.set(message.track, at + message.payload.length);
    }
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
    this.#ctx.metrics.ingress.failures.inc({ ingress: 'telnyx' });
    (this.#call?.log ?? this.#log).error({ err }, 'media message handling failed: ending this stream');
    this.#endReason ??= 'internal_error';
    this.#fail(CLOSE.internalError, 'internal error');
  }

  /** The stream cannot go on: close it with a code and reason; the close handler finalizes. */
  #fail(code: number, reason: string): void {
    if (this.#closing) return; // one warning per session, however many frames follow
    this.#closing = true;
    this.#endReason ??= `protocol_error: ${reason}`;
    this.#sentCloseCode ??= code;
    this.#log.warn({ code, reason }, 'closing media stream');
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
    try {
      this.#reorder?.flush(); // the socket is gone: what was held is all there is
    } catch (err) {
      call.log.error({ err }, 'releasing held media failed');
    }
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

/**
 * The announced format as a leg codec, or why it is refused. G.711 comes at 8 kHz; G.722 samples at
 * 16 kHz (announced as 16000, or 8000 as its RTP clock runs); L16 (big-endian) at 8–48 kHz. Opus and
 * AMR-WB are refused: voxline has no exact decoder for them.
 */
export function readFormat(format: {
  encoding: string;
  sample_rate: number;
  channels: number;
}): Format | string {
  const encoding = format.encoding.toUpperCase();
  const got = `${format.encoding}/${format.sample_rate}/${format.channels}`;
  const refused = `unsupported media format ${got} (voxline takes PCMU or PCMA at 8000 Hz, G722, L16 at 8000-48000 Hz, mono)`;
  if (format.channels !== 1) return refused;
  if ((encoding === 'PCMU' || encoding === 'PCMA') && format.sample_rate === 8000) {
    return { codec: encoding === 'PCMU' ? 'pcmu' : 'pcma', sampleRate: 8000 };
  }
  if (encoding === 'G722' && (format.sample_rate === 16000 || format.sample_rate === 8000)) {
    return { codec: 'g722', sampleRate: 16000 };
  }
  if (encoding === 'L16' && format.sample_rate >= MIN_L16_RATE && format.sample_rate <= MAX_L16_RATE) {
    return { codec: 'l16', sampleRate: format.sample_rate };
  }
  return refused;
}

function readMode(value: string | undefined): CallMode | undefined {
  return value === 'agent' || value === 'transcribe' ? value : undefined;
}

function readTracks(value: string | undefined): ('inbound' | 'outbound')[] | undefined {
  if (value === 'inbound' || value === 'outbound') return [value];
  if (value === 'both') return ['inbound', 'outbound'];
  return undefined;
}

function readLabels(
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
