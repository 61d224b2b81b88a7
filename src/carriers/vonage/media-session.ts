import type { WebSocket } from 'ws';
import type { CallStart, LegLabels } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import { CLOSE } from '../ws-close.js';
import { decodeAudio, headersOf, parseVonageText, rateOf } from './codec.js';
import type { MediaGrant } from './media-token.js';
import type { ConnectedMessage } from './messages.js';
import { VonageOutbound } from './outbound.js';

/** The NCCO header that names the call (vonage-routes.ts sets it; it must match the signed URL). */
export const CALL_HEADER = 'voxlineCall';
/** The socket's one leg: what the Vonage call leg hears, i.e. the caller. */
const TRACK = 'inbound';

export interface VonageSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  /** What the signed media URL grants: the call and its mode. */
  readonly grant: MediaGrant;
  readonly legs: LegLabels;
  /** Paces agent audio out. */
  readonly clock: MediaClock;
}

/**
 * One Vonage WebSocket: `websocket:connected` (text) opens the call, then binary frames of
 * 16-bit little-endian PCM are the caller's leg, laid end to end (Vonage stamps none), and text
 * frames carry DTMF and the echoes of voxline's notify and clear. Bad frames are counted and
 * logged; the call goes on unless the stream can no longer be trusted (then the socket closes
 * with a code and reason, and the call is finalized: Vonage sends no stop, it closes the socket).
 * The socket's life is StreamSocketSession's.
 */
export class VonageMediaSession extends StreamSocketSession {
  readonly #vonage: VonageSessionContext;
  #outbound: VonageOutbound | undefined;
  /** Samples of the caller's leg received so far: where the next frame starts. */
  #position = 0;

  constructor(socket: WebSocket, ctx: VonageSessionContext) {
    const log = ctx.log.child({ callSid: ctx.grant.callSid });
    super(socket, { ...ctx, log, ingress: 'vonage', peer: 'Vonage' }, 'websocket:connected');
    this.#vonage = ctx;
  }

  protected onBinary(bytes: Buffer): void {
    const call = this.call;
    if (!call) {
      this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
      this.fail(CLOSE.policyViolation, 'audio before websocket:connected');
      return;
    }
    const decoded = decodeAudio(bytes);
    if ('event' in decoded) {
      this.reject(decoded.reason, decoded.detail);
      return;
    }
    if (decoded.odd) this.reject('odd_audio_length', `${bytes.length} bytes`);
    if (decoded.pcm.length === 0) return;
    call.legs.get(TRACK)?.pushPcm(this.#position, decoded.pcm);
    this.#position += decoded.pcm.length;
  }

  protected onText(text: string): void {
    const call = this.call;
    const message = parseVonageText(text);
    switch (message.event) {
      case 'websocket:connected':
        if (call) this.reject('duplicate_start', 'a second websocket:connected');
        else this.#start(message);
        return;
      case 'websocket:dtmf':
        if (!call) {
          this.reject('media_before_start', 'dtmf before websocket:connected');
          return;
        }
        call.recordDtmf(message.digit, TRACK); // the caller's keys: the socket is the caller's leg
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'websocket:notify':
        if (!this.#outbound?.acknowledge(message.payload)) {
          this.log.debug('notify echo with no mark waiting');
        }
        return;
      case 'websocket:cleared':
        this.log.debug('Vonage cleared its audio queue');
        return;
      case 'other':
        this.log.debug({ event: message.name }, 'Vonage event ignored');
        return;
      case 'malformed':
        this.reject(message.reason, message.detail);
        return;
    }
  }

  #start(message: ConnectedMessage): void {
    const { grant, metrics, legs } = this.#vonage;
    const rate = rateOf(message['content-type']);
    if (rate === undefined) {
      metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.fail(CLOSE.unsupportedData, `unsupported content-type ${message['content-type']}`.slice(0, 120));
      return;
    }
    const headers = headersOf(message);
    const named = headers[CALL_HEADER];
    if (named !== undefined && named !== grant.callSid) {
      this.reject('invalid_message', 'websocket:connected names another call than its URL');
      this.fail(CLOSE.policyViolation, 'call header does not match the signed URL');
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
      ? new VonageOutbound(this.#vonage.clock, this.socket, rate, this.log, (err) => this.outboundFailed(err))
      : undefined;
    if (!this.openCall(callStart, outbound)) return;
    this.#outbound = outbound;
    this.log.info({ rate, mode: grant.mode, legs: callStart.legs }, 'call started');
  }
}
