import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { CallMode, CallStart, LegLabels, LegSpec } from '../carrier.js';
import { decodeAudio, MAX_AUDIO_FRAME_BYTES, parseLaterText } from '../freeswitch/codec.js';
import type { ForkMix } from '../freeswitch/freeswitch-config.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import { CLOSE } from '../ws-close.js';
import { type ListenMetadata, parseListenMetadata, parseReply } from './codec.js';
import { JambonzOutbound } from './outbound.js';

export interface JambonzSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  /** The mode from the URL (?mode=) or the route's config. */
  readonly mode: CallMode;
  readonly legs: LegLabels;
  readonly mixedLabel: string;
}

/** The tracks of each mixType: stereo channel 0 is the caller, channel 1 the callee. */
const TRACKS: Record<ForkMix, readonly string[]> = {
  mono: ['inbound'],
  stereo: ['inbound', 'outbound'],
  mixed: ['mixed'],
};

/**
 * One jambonz listen WebSocket (past the shared secret): the first text frame is the metadata and
 * opens the call at its sampleRate and mixType; binary frames are L16 laid end to end (jambonz
 * stamps none); later text frames are key presses (passDtmf) and jambonz's mark reports. The
 * socket closing ends the call (jambonz sends no stop of its own).
 */
export class JambonzSession extends StreamSocketSession {
  readonly #jz: JambonzSessionContext;
  #mix: ForkMix = 'mono';
  #outbound: JambonzOutbound | undefined;
  /** Samples per channel received so far: where the next frame starts. */
  #position = 0;

  constructor(socket: WebSocket, ctx: JambonzSessionContext) {
    super(socket, { ...ctx, ingress: 'jambonz', peer: 'jambonz' }, 'listen metadata');
    this.#jz = ctx;
  }

  protected onText(text: string): void {
    if (this.closing) return;
    if (!this.call) {
      const metadata = parseListenMetadata(text);
      if ('refused' in metadata) {
        this.ctx.metrics.callsRefused.inc({ reason: 'bad_listen_metadata' });
        this.fail(CLOSE.unsupportedData, metadata.refused);
        return;
      }
      this.#start(metadata);
      return;
    }
    const reply = parseReply(text);
    if (reply?.kind === 'mark') {
      if (!this.#outbound?.acknowledge(reply.name, reply.cleared))
        this.log.debug({ mark: reply.name }, 'mark report with no mark waiting');
      return;
    }
    if (reply?.kind === 'bad_mark') {
      this.reject('invalid_message', reply.detail);
      return;
    }
    if (reply?.kind === 'play_done') return;
    const message = parseLaterText(text);
    if (message.kind === 'dtmf') {
      this.call.recordDtmf(message.digit, 'inbound'); // passDtmf: "DTMF digits detected from the caller"
      // Digits can be PINs or card numbers: the log says how many and where, never which.
      this.log.debug({ dtmf: this.call.dtmf.length, atMs: this.call.dtmf.at(-1)?.atMs }, 'dtmf');
    } else if (message.kind === 'bad_dtmf') {
      this.reject('invalid_message', message.detail);
    } else {
      this.log.debug({ bytes: text.length }, 'jambonz text frame ignored');
    }
  }

  protected onBinary(bytes: Buffer): void {
    if (this.closing) return;
    if (!this.call) {
      // The rate and the mix are in the metadata: audio before it cannot be placed.
      this.ctx.metrics.malformedMessages.inc({ reason: 'media_before_start' });
      this.fail(CLOSE.policyViolation, 'audio before the listen metadata');
      return;
    }
    const decoded = decodeAudio(bytes, this.#mix);
    if ('tooBig' in decoded) {
      this.reject('bad_payload_size', `${decoded.tooBig} bytes (at most ${MAX_AUDIO_FRAME_BYTES})`);
      return;
    }
    if (decoded.leftover > 0) this.reject('odd_audio_length', `${bytes.length} bytes`);
    const samples = decoded.channels[0].length;
    if (samples === 0) return;
    const tracks = TRACKS[this.#mix];
    for (let c = 0; c < tracks.length; c++)
      this.call?.legs.get(tracks[c])?.pushPcm(this.#position, decoded.channels[c]);
    this.#position += samples;
  }

  #start(metadata: ListenMetadata): void {
    const { legs, mixedLabel, mode } = this.#jz;
    if (metadata.ignored.length > 0)
      this.reject('invalid_message', `metadata fields ignored: ${metadata.ignored.join(', ')}`);
    if (this.closing) return;
    if (mode === 'agent' && metadata.mixType !== 'mono') {
      this.ctx.metrics.callsRefused.inc({ reason: 'bad_listen_metadata' });
      this.fail(CLOSE.policyViolation, `agent mode takes mixType mono (got ${metadata.mixType})`);
      return;
    }
    const callSid = metadata.callSid ?? `jz-${randomUUID()}`;
    const labels: Record<string, string> = {
      inbound: legs.inbound,
      outbound: legs.outbound,
      mixed: mixedLabel,
    };
    const tracks = TRACKS[metadata.mixType];
    const specs: LegSpec[] = tracks.map((track) => ({
      track,
      label: labels[track],
      codec: 'l16',
      sampleRate: metadata.sampleRate,
    }));
    const start: CallStart = {
      ingress: 'jambonz',
      callSid,
      streamSid: callSid, // jambonz names no stream: the socket is the listen
      tracks,
      legs: specs,
      agentLabel: legs.outbound,
      customParameters: metadata.parameters,
      mode,
      bidirectional: mode === 'agent',
    };
    this.log = this.log.child({ callSid });
    const outbound = start.bidirectional ? new JambonzOutbound(this.socket, metadata.sampleRate) : undefined;
    this.#mix = metadata.mixType;
    if (!this.openCall(start, outbound)) return;
    this.#outbound = outbound;
    this.log.info(
      { rate: metadata.sampleRate, mixType: metadata.mixType, mode, legs: specs },
      'call started',
    );
  }
}
