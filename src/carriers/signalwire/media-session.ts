import type { WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallMode, CallStart, LegLabels, LegSpec } from '../carrier.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import type { MediaFrame } from '../twilio/codec.js';
import { PARAM, readLabels, readMode } from '../twilio/media-session.js';
import type { StartMessage } from '../twilio/messages.js';
import { TwilioOutbound } from '../twilio/outbound.js';
import { CLOSE } from '../ws-close.js';
import {
  decodeL16,
  outboundEncoder,
  parseSignalWireMessage,
  type StreamFormat,
  streamFormat,
} from './codec.js';
import type { L16ByteOrder } from './signalwire-config.js';

export interface SignalWireSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  /** The mode when the stream's parameters name none (cXML from elsewhere). */
  readonly mode: CallMode;
  readonly legs: LegLabels;
  readonly l16ByteOrder: L16ByteOrder;
}

/**
 * One SignalWire <Stream> WebSocket (past the bearer token): Twilio-shaped JSON frames, the
 * handshake (connected → start) into a CallStart, then media into the call's legs at the
 * announced format, placed by the frames' timestamps as Twilio's are. Marks and clears go back
 * through Twilio's outbound (SignalWire echoes marks as Twilio does), in the stream's own codec.
 */
export class SignalWireSession extends StreamSocketSession {
  readonly #sw: SignalWireSessionContext;
  #format: StreamFormat | undefined;
  #outbound: TwilioOutbound | undefined;
  #lastSequence: number | undefined;

  constructor(socket: WebSocket, ctx: SignalWireSessionContext) {
    super(socket, { ...ctx, ingress: 'signalwire', peer: 'SignalWire' }, 'start message');
    this.#sw = ctx;
  }

  protected onBinary(): void {
    this.reject('binary_frame', 'SignalWire streams carry JSON text frames');
  }

  protected onText(text: string): void {
    if (this.closing) return;
    const message = parseSignalWireMessage(text);
    const call = this.call;
    switch (message.event) {
      case 'connected':
        this.log.debug({ protocol: message.protocol, version: message.version }, 'media stream connected');
        return;
      case 'start':
        if (call) this.reject('duplicate_start', `stream ${message.streamSid} already started`);
        else this.#start(message);
        return;
      case 'media':
        if (!call) {
          this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
          this.fail(CLOSE.policyViolation, 'media before start');
          return;
        }
        this.#media(call, message);
        return;
      case 'mark':
        if (!call) {
          this.reject('media_before_start', 'mark before start');
          return;
        }
        this.#sequence(call, Number(message.sequenceNumber));
        if (!this.#outbound?.acknowledge(message.mark.name))
          this.log.debug({ mark: message.mark.name }, 'mark echo with no mark waiting');
        return;
      case 'dtmf':
        if (!call) {
          this.reject('media_before_start', 'dtmf before start');
          return;
        }
        this.#sequence(call, Number(message.sequenceNumber));
        call.recordDtmf(message.dtmf.digit, 'inbound'); // the caller's keys, as on Twilio
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        this.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'stop':
        if (call) this.#sequence(call, Number(message.sequenceNumber));
        this.endWith('stop');
        return;
      case 'malformed':
        this.reject(message.reason, message.detail);
        return;
    }
  }

  #media(call: Call, message: MediaFrame): void {
    if (message.streamSid !== call.start.streamSid) {
      this.reject('wrong_stream', message.streamSid);
      return;
    }
    const leg = call.legs.get(message.track);
    if (!leg) {
      this.reject('unknown_track', `track ${message.track} was not announced in start`);
      return;
    }
    this.#sequence(call, message.sequenceNumber);
    const format = this.#format as StreamFormat;
    if (format.codec === 'pcmu') {
      leg.pushMulaw(message.timestampMs, message.payload);
      return;
    }
    const pcm = decodeL16(message.payload, this.#sw.l16ByteOrder);
    if (!pcm) {
      this.reject('bad_payload_size', `L16 payload of ${message.payload.length} bytes (odd)`);
      return;
    }
    // Placed by the frame's timestamp (ms since the stream started), as Twilio's μ-law is.
    const at = message.timestampMs >= 0 ? (message.timestampMs * format.sampleRate) / 1000 : Number.NaN;
    leg.pushPcm(at, pcm);
  }

  #start(message: StartMessage): void {
    const { start } = message;
    const format = streamFormat(start.mediaFormat);
    if (!format) {
      this.ctx.metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      const { encoding, sampleRate, channels } = start.mediaFormat;
      this.fail(
        CLOSE.unsupportedData,
        `unsupported media format ${encoding}/${sampleRate}/${channels}`.slice(0, 120),
      );
      return;
    }
    const params = start.customParameters ?? {};
    const mode = readMode(params[PARAM.mode]) ?? this.#sw.mode;
    const labels = readLabels(params, this.#sw.legs);
    const callStart: CallStart = {
      ingress: 'signalwire',
      callSid: start.callSid,
      streamSid: start.streamSid,
      accountSid: start.accountSid,
      tracks: start.tracks,
      legs: start.tracks.map(
        (track): LegSpec => ({
          track,
          label: labels[track],
          codec: format.codec,
          sampleRate: format.sampleRate,
        }),
      ),
      agentLabel: labels.outbound,
      customParameters: params,
      mode,
      bidirectional: mode === 'agent',
    };
    this.log = this.log.child({ callSid: start.callSid, streamSid: start.streamSid });
    const outbound = callStart.bidirectional
      ? new TwilioOutbound(this.socket, start.streamSid, {
          encode: outboundEncoder(format, this.#sw.l16ByteOrder),
        })
      : undefined;
    this.#format = format;
    if (!this.openCall(callStart, outbound)) return;
    this.#outbound = outbound;
    this.#lastSequence = Number(message.sequenceNumber);
    this.log.info({ tracks: start.tracks, legs: callStart.legs, mode, format }, 'call started');
  }

  #sequence(call: Call, sequence: number): void {
    const last = this.#lastSequence;
    if (last !== undefined && sequence > last + 1) call.countSequenceGap(sequence - last - 1);
    if (last === undefined || sequence > last) this.#lastSequence = sequence;
  }
}
