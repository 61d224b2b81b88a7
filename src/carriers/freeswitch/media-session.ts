import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { CallMode, CallStart, LegLabels, LegSpec } from '../carrier.js';
import type { MediaClock } from '../media-clock.js';
import { type StreamSessionContext, StreamSocketSession } from '../stream-socket-session.js';
import {
  decodeAudio,
  type ForkMetadata,
  type ForkModule,
  MAX_AUDIO_FRAME_BYTES,
  parseLaterText,
  parseMetadata,
} from './codec.js';
import type { ForkMix, ForkRate } from './freeswitch-config.js';
import { FreeSwitchOutbound } from './outbound.js';

/** What the checked URL (or the route's config) says about this fork. */
export interface ForkParams {
  readonly module: ForkModule;
  readonly rate: ForkRate;
  readonly mix: ForkMix;
  readonly mode: CallMode;
  /** `?call=` (e.g. `${uuid}` in the dialplan); the metadata's callSid wins. */
  readonly callSid: string | undefined;
}

export interface FreeSwitchSessionContext extends Omit<StreamSessionContext, 'ingress' | 'peer'> {
  readonly params: ForkParams;
  readonly legs: LegLabels;
  readonly mixedLabel: string;
  /** Paces agent audio out. */
  readonly mediaClock: MediaClock;
}

/** The tracks of each mix: stereo channel 0 is the caller, channel 1 the callee. */
const TRACKS: Record<ForkMix, readonly string[]> = {
  mono: ['inbound'],
  stereo: ['inbound', 'outbound'],
  mixed: ['mixed'],
};

/**
 * One FreeSWITCH fork (mod_audio_stream or mod_audio_fork): the first text frame is the
 * operator's metadata and opens the call (mod_audio_stream's metadata is optional: a first
 * binary frame opens it without), binary frames are L16 laid end to end (the modules stamp
 * none), later text frames are the operator's own (`send_text`), of which voxline takes key
 * presses. The socket closing ends the call (neither module sends a stop of its own).
 */
export class FreeSwitchSession extends StreamSocketSession {
  readonly #fork: FreeSwitchSessionContext;
  /** Samples per channel received so far: where the next frame starts. */
  #position = 0;

  constructor(socket: WebSocket, ctx: FreeSwitchSessionContext) {
    super(socket, { ...ctx, ingress: 'freeswitch', peer: 'FreeSWITCH' }, 'metadata or audio');
    this.#fork = ctx;
  }

  protected onText(text: string): void {
    if (!this.call) {
      if (!this.closing) this.#start(parseMetadata(text));
      return;
    }
    const message = parseLaterText(text);
    if (message.kind === 'dtmf') {
      this.call.recordDtmf(message.digit, 'inbound'); // the caller's keys (stereo channel 0)
      // Digits can be PINs or card numbers: the log says how many and where, never which.
      this.log.debug({ dtmf: this.call.dtmf.length, atMs: this.call.dtmf.at(-1)?.atMs }, 'dtmf');
    } else if (message.kind === 'bad_dtmf') {
      this.reject('invalid_message', message.detail);
    } else {
      this.log.debug({ bytes: text.length }, 'FreeSWITCH text frame (the operator’s send_text) ignored');
    }
  }

  protected onBinary(bytes: Buffer): void {
    if (!this.call) {
      if (this.closing) return;
      this.#start({ callSid: undefined, parameters: {}, ignored: [] });
      if (!this.call) return;
    }
    const decoded = decodeAudio(bytes, this.#fork.params.mix);
    if ('tooBig' in decoded) {
      this.reject('bad_payload_size', `${decoded.tooBig} bytes (at most ${MAX_AUDIO_FRAME_BYTES})`);
      return;
    }
    if (decoded.leftover > 0) this.reject('odd_audio_length', `${bytes.length} bytes`);
    const samples = decoded.channels[0].length;
    if (samples === 0) return;
    const tracks = TRACKS[this.#fork.params.mix];
    for (let c = 0; c < tracks.length; c++) {
      this.call?.legs.get(tracks[c])?.pushPcm(this.#position, decoded.channels[c]);
    }
    this.#position += samples;
  }

  #start(metadata: ForkMetadata): void {
    const { params, legs, mixedLabel } = this.#fork;
    if (metadata.ignored.length > 0)
      this.reject('invalid_message', `metadata fields ignored: ${metadata.ignored.join(', ')}`);
    if (this.closing) return;
    const callSid = metadata.callSid ?? params.callSid ?? `fs-${randomUUID()}`;
    const labels: Record<string, string> = {
      inbound: legs.inbound,
      outbound: legs.outbound,
      mixed: mixedLabel,
    };
    const specs: LegSpec[] = TRACKS[params.mix].map((track) => ({
      track,
      label: labels[track],
      codec: 'l16',
      sampleRate: params.rate,
    }));
    const start: CallStart = {
      ingress: 'freeswitch',
      callSid,
      streamSid: callSid, // the modules name no stream: the socket is the fork
      tracks: TRACKS[params.mix],
      legs: specs,
      agentLabel: legs.outbound,
      customParameters: metadata.parameters,
      mode: params.mode,
      bidirectional: params.mode === 'agent',
    };
    this.log = this.log.child({ callSid });
    const outbound = start.bidirectional
      ? new FreeSwitchOutbound(
          this.#fork.mediaClock,
          this.socket,
          params.module,
          params.rate,
          this.log,
          (err) => this.outboundFailed(err),
        )
      : undefined;
    if (!this.openCall(start, outbound)) return;
    this.log.info(
      { module: params.module, rate: params.rate, mix: params.mix, mode: params.mode, legs: specs },
      'call started',
    );
  }
}
