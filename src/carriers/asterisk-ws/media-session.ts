import type { WebSocket } from 'ws';
import type { CallMode, CallStart, LegLabels } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import { CLOSE } from '../ws-close.js';
import {
  type ControlFormat,
  decodeSlin,
  encodeCommand,
  FORMAT_NAMES,
  MAX_MESSAGE_BYTES,
  type MediaFormat,
  type MediaStart,
  mediaFormat,
  parseAsteriskText,
} from './codec.js';
import { AsteriskOutbound } from './outbound.js';

/** The socket's one leg: the channel's audio, i.e. whoever the dialplan connected (the caller). */
const TRACK = 'inbound';

export interface AsteriskSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  readonly mode: CallMode;
  /** The URL's query (`v()` in the dial string) kept as custom parameters, token and mode left out. */
  readonly uriParameters: Readonly<Record<string, string>>;
  readonly legs: LegLabels;
  /** Counts down what Asterisk has queued of voxline's audio (it plays a frame per 20 ms). */
  readonly mediaClock: MediaClock;
}

/**
 * One chan_websocket connection that Asterisk opened to voxline: `MEDIA_START` (text) opens the
 * call, binary frames are the channel's audio in the announced format, laid end to end, and text
 * events carry DTMF, flow control and the echoes of voxline's marks. Asterisk hanging up closes
 * the socket; voxline ending the call sends `HANGUP` first.
 */
export class AsteriskWsSession extends StreamSocketSession {
  readonly #asterisk: AsteriskSessionContext;
  #format: MediaFormat | undefined;
  #control: ControlFormat = 'plain';
  #outbound: AsteriskOutbound | undefined;
  /** Samples received so far: where the next frame starts. */
  #position = 0;

  constructor(socket: WebSocket, ctx: AsteriskSessionContext) {
    super(socket, { ...ctx, ingress: 'asterisk-ws', peer: 'Asterisk' }, 'MEDIA_START');
    this.#asterisk = ctx;
  }

  protected override beforeClose(): void {
    // Asterisk hangs the channel up on HANGUP; closing alone would too, but says less.
    if (this.call && this.socket.readyState === this.socket.OPEN)
      this.socket.send(encodeCommand(this.#control, 'HANGUP'));
  }

  protected onText(text: string): void {
    const message = parseAsteriskText(text);
    const call = this.call;
    switch (message.event) {
      case 'MEDIA_START':
        if (call) this.reject('duplicate_start', 'a second MEDIA_START');
        else if (!this.closing) this.#start(message);
        return;
      case 'DTMF_END':
        if (!call) {
          this.reject('media_before_start', 'DTMF_END before MEDIA_START');
          return;
        }
        call.recordDtmf(message.digit, TRACK);
        // Digits can be PINs or card numbers: the log says how many and where, never which.
        this.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        return;
      case 'MEDIA_XOFF':
      case 'MEDIA_XON':
        this.log.debug({ event: message.event }, 'Asterisk flow control');
        this.#outbound?.setXoff(message.event === 'MEDIA_XOFF');
        return;
      case 'MEDIA_MARK_PROCESSED':
        if (!this.#outbound?.acknowledge(message.id)) this.log.debug('mark echo with no mark waiting');
        return;
      case 'QUEUE_DRAINED':
      case 'other':
        this.log.debug({ event: 'name' in message ? message.name : message.event }, 'Asterisk event ignored');
        return;
      case 'ERROR':
        this.log.warn({ error: message.text }, 'Asterisk reported an error on the media socket');
        return;
      case 'malformed':
        this.reject(message.reason, message.detail);
        return;
    }
  }

  protected onBinary(bytes: Buffer): void {
    const call = this.call;
    const format = this.#format;
    if (!call || !format) {
      if (this.closing) return;
      this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
      this.fail(CLOSE.policyViolation, 'audio before MEDIA_START');
      return;
    }
    if (bytes.length > MAX_MESSAGE_BYTES) {
      this.reject('bad_payload_size', `${bytes.length} bytes (at most ${MAX_MESSAGE_BYTES})`);
      return;
    }
    const leg = call.legs.get(TRACK);
    if (format.sampleBytes === 1) {
      if (bytes.length === 0) return;
      leg?.pushBytes(this.#position, bytes);
      this.#position += bytes.length;
      return;
    }
    if (bytes.length % 2 !== 0) this.reject('odd_audio_length', `${bytes.length} bytes`);
    const pcm = decodeSlin(bytes);
    if (pcm.length === 0) return;
    leg?.pushPcm(this.#position, pcm);
    this.#position += pcm.length;
  }

  #start(message: MediaStart): void {
    const { legs, mode, uriParameters } = this.#asterisk;
    const format = mediaFormat(message.mediaFormat);
    if (!format) {
      this.ctx.metrics.callsRefused.inc({ reason: 'unsupported_media_format' });
      this.fail(
        CLOSE.unsupportedData,
        `unsupported format ${message.mediaFormat} (voxline takes ${FORMAT_NAMES})`,
      );
      return;
    }
    if (message.optimalFrameSize % format.sampleBytes !== 0) {
      this.reject('invalid_message', `optimal_frame_size ${message.optimalFrameSize} for ${format.name}`);
      this.fail(CLOSE.policyViolation, 'optimal_frame_size is not whole samples');
      return;
    }
    this.#format = format;
    this.#control = message.format;
    const channelId = message.channelId ?? message.connectionId;
    // A call id names files and URLs: the uniqueid's dots (`1760000000.42`) become dashes.
    const callSid = channelId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
    const customParameters: Record<string, string> = { ...uriParameters, ...message.variables };
    if (message.channel) customParameters.channel = message.channel;
    customParameters.channel_id = channelId;
    const start: CallStart = {
      ingress: 'asterisk-ws',
      callSid,
      streamSid: message.connectionId,
      tracks: [TRACK],
      legs: [
        {
          track: TRACK,
          label: legs.inbound,
          codec: format.codec,
          ...(format.codec === 'l16' ? { sampleRate: format.sampleRate } : {}),
        },
      ],
      agentLabel: legs.outbound,
      customParameters,
      mode,
      bidirectional: mode === 'agent',
    };
    this.log = this.log.child({ callSid });
    const outbound = start.bidirectional
      ? new AsteriskOutbound(
          this.#asterisk.mediaClock,
          this.socket,
          format,
          message.format,
          message.optimalFrameSize,
          this.log,
        )
      : undefined;
    if (!this.openCall(start, outbound)) return;
    this.#outbound = outbound;
    this.log.info(
      { format: format.name, optimalFrameSize: message.optimalFrameSize, control: message.format, mode },
      'call started',
    );
  }
}
