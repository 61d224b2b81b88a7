import type { WebSocket } from 'ws';
import type { Call } from '../../calls/call.js';
import type { CallMode, CallStart, LegLabels } from '../carrier.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import { TwilioOutbound } from '../twilio/outbound.js';
import { CLOSE } from '../ws-close.js';
import {
  decodePcmLe,
  ExotelChunker,
  type ExotelRate,
  type ExotelStart,
  encodeClear,
  encodeMark,
  encodeMedia,
  exotelRate,
  parseExotelMessage,
} from './codec.js';

export interface ExotelSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  /** The mode from the URL (?mode=) or the route's config. */
  readonly mode: CallMode;
  readonly legs: LegLabels;
}

const EXOTEL_FRAMES = { media: encodeMedia, mark: encodeMark, clear: encodeClear };

/**
 * One Exotel Voicebot / Stream applet WebSocket (past the shared secret): JSON text frames, the
 * handshake (connected → start) into a CallStart with one leg (the caller, mono), then media laid
 * end to end (Exotel's `timestamp` is not documented precisely enough to place audio by).
 * Agent mode sends audio back as `media` frames of 100 ms or more in multiples of 320 bytes (the
 * tail padded with silence at a mark), with marks and clear,
 * through Twilio's outbound (Exotel echoes marks when the audio before them has played).
 */
export class ExotelSession extends StreamSocketSession {
  readonly #ex: ExotelSessionContext;
  #rate: ExotelRate = 8000;
  #streamSid = '';
  #outbound: TwilioOutbound | undefined;
  #position = 0;
  #lastSequence: number | undefined;

  constructor(socket: WebSocket, ctx: ExotelSessionContext) {
    super(socket, { ...ctx, ingress: 'exotel', peer: 'Exotel' }, 'start message');
    this.#ex = ctx;
  }

  protected onBinary(): void {
    this.reject('binary_frame', 'Exotel streams carry JSON text frames');
  }

  protected onText(text: string): void {
    if (this.closing) return;
    const message = parseExotelMessage(text);
    const call = this.call;
    if (message.event === 'malformed') {
      this.reject(message.reason, message.detail);
      return;
    }
    if (message.event === 'connected') {
      this.log.debug('Exotel stream connected');
      return;
    }
    if (message.event === 'start') {
      if (call) this.reject('duplicate_start', `stream ${message.streamSid} already started`);
      else this.#start(message);
      return;
    }
    if (!call) {
      if (message.event === 'stop') {
        this.endWith('stop');
        return;
      }
      this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
      this.fail(CLOSE.policyViolation, `${message.event} before start`);
      return;
    }
    this.#sequence(call, message.sequence);
    switch (message.event) {
      case 'media': {
        if (message.streamSid !== undefined && message.streamSid !== this.#streamSid) {
          this.reject('wrong_stream', message.streamSid.slice(0, 64));
          return;
        }
        const pcm = decodePcmLe(message.payload);
        if (!pcm) {
          this.reject('bad_payload_size', `payload of ${message.payload.length} bytes (odd)`);
          return;
        }
        call.legs.get('inbound')?.pushPcm(this.#position, pcm);
        this.#position += pcm.length;
        return;
      }
      case 'mark':
        if (!this.#outbound?.acknowledge(message.name))
          this.log.debug({ mark: message.name }, 'mark echo with no mark waiting');
        return;
      case 'dtmf':
        call.recordDtmf(message.digit, 'inbound');
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        this.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'stop':
        this.endWith('stop');
        return;
    }
  }

  #start(message: ExotelStart): void {
    const rate = exotelRate(message);
    if (!rate) {
      this.ctx.metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.fail(
        CLOSE.unsupportedData,
        `unsupported media format ${message.encoding}/${message.sampleRate}/${message.bitRate}`.slice(0, 120),
      );
      return;
    }
    const { mode, legs } = this.#ex;
    if (mode === 'agent' && rate !== 8000) {
      // Audio back is 8 kHz (the format Exotel's docs give for what it plays).
      this.ctx.metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.fail(CLOSE.unsupportedData, `agent mode takes 8000 Hz streams (got ${rate})`);
      return;
    }
    const customParameters: Record<string, string> = { ...message.customParameters };
    if (message.from) customParameters.from = message.from;
    if (message.to) customParameters.to = message.to;
    const start: CallStart = {
      ingress: 'exotel',
      callSid: message.callSid,
      streamSid: message.streamSid,
      accountSid: message.accountSid,
      tracks: ['inbound'],
      legs: [{ track: 'inbound', label: legs.inbound, codec: 'l16', sampleRate: rate }],
      agentLabel: legs.outbound,
      customParameters,
      mode,
      bidirectional: mode === 'agent',
    };
    this.log = this.log.child({ callSid: message.callSid, streamSid: message.streamSid });
    const outbound = start.bidirectional
      ? new TwilioOutbound(this.socket, message.streamSid, {
          encode: new ExotelChunker(),
          frames: EXOTEL_FRAMES,
        })
      : undefined;
    this.#rate = rate;
    this.#streamSid = message.streamSid;
    if (!this.openCall(start, outbound)) return;
    this.#outbound = outbound;
    this.#lastSequence = message.sequence;
    this.log.info({ rate: this.#rate, mode }, 'call started');
  }

  #sequence(call: Call, sequence: number | undefined): void {
    if (sequence === undefined) return;
    const last = this.#lastSequence;
    if (last !== undefined && sequence > last + 1) call.countSequenceGap(sequence - last - 1);
    if (last === undefined || sequence > last) this.#lastSequence = sequence;
  }
}
