import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { pcmFromLittleEndian } from '../../audio/pcm16le.js';
import type { Call } from '../../calls/call.js';
import { MAX_DTMF_PER_CALL } from '../../calls/call-log.js';
import type { AudioSocketCall } from './audiosocket-call.js';
import {
  AUDIO_RATES,
  type AudioSocketFrame,
  encodeFrame,
  FrameReader,
  KIND,
  uuidFromBytes,
} from './frames.js';

/** What a connection needs from its server: the call it belongs to, the limits, the counters. */
export interface ConnectionHost {
  readonly handshakeTimeoutMs: number;
  readonly maxMalformed: number;
  /** Joins or opens the call for this UUID and rate; undefined when it was refused (the socket is told). */
  open(uuid: string, rate: number, socket: Socket, log: FastifyBaseLogger): AudioSocketCall | undefined;
  /** A connection of `entry` closed. */
  left(entry: AudioSocketCall, reason: string): void;
  countRefused(reason: string): void;
  countMalformed(reason: string): void;
}

const LOUD_WARNINGS = 5;

/** One TCP connection: UUID, then the first audio frame picks the rate and opens (or joins) the call. */
export class Connection {
  readonly #socket: Socket;
  readonly #log: FastifyBaseLogger;
  readonly #server: ConnectionHost;
  readonly #reader = new FrameReader();
  #uuid: string | undefined;
  #entry: AudioSocketCall | undefined;
  #track = 'inbound';
  #rate = 0;
  #malformed = 0;
  #endReason = 'hangup';
  /** DTMF that came before the first audio frame, replayed once the call is open. */
  readonly #earlyDigits: string[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(socket: Socket, log: FastifyBaseLogger, server: ConnectionHost) {
    this.#socket = socket;
    this.#log = log;
    this.#server = server;
    this.#timer = setTimeout(() => {
      server.countRefused('handshake_timeout');
      this.#fail(undefined, `no UUID and audio within ${server.handshakeTimeoutMs} ms`);
    }, server.handshakeTimeoutMs);
    this.#timer.unref();
  }

  onData(chunk: Buffer): void {
    for (const frame of this.#reader.push(chunk)) {
      if (this.#socket.destroyed) return;
      this.#frame(frame);
    }
  }

  /** Handling threw: the call (both legs, if paired) hangs up with internal_error. */
  failed(): void {
    this.#endReason = 'internal_error';
    const call = this.#entry?.call;
    if (call) void call.hangUp(1011, 'internal error', 'internal_error');
    this.#socket.destroy();
  }

  onClose(): void {
    clearTimeout(this.#timer);
    if (this.#entry) this.#server.left(this.#entry, this.#endReason);
  }

  #frame(frame: AudioSocketFrame): void {
    const call = this.#entry?.call;
    call?.noteActivity();
    if (this.#uuid === undefined) {
      if (frame.kind !== KIND.uuid || frame.payload.length !== 16) {
        this.#fail('uuid_expected', `first frame was kind 0x${frame.kind.toString(16)}, not a 16-byte UUID`);
        return;
      }
      this.#uuid = uuidFromBytes(frame.payload);
      return;
    }
    const rate = AUDIO_RATES.get(frame.kind);
    if (rate !== undefined) {
      this.#audio(rate, frame.payload);
      return;
    }
    switch (frame.kind) {
      case KIND.dtmf: {
        const digit = frame.payload.toString('latin1');
        // Digits can be PINs or card numbers: logs say how many and where, never which (nor
        // echo a bad payload, which may be digits too).
        if (!/^[0-9*#A-D]$/.test(digit)) {
          this.#malformedFrame('bad_dtmf', `${frame.payload.length}-byte payload`);
        } else if (call) {
          call.recordDtmf(digit, this.#track);
          call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        } else {
          // Held until the call opens; bounded like the call's own list.
          if (this.#earlyDigits.length < MAX_DTMF_PER_CALL) this.#earlyDigits.push(digit);
        }
        return;
      }
      case KIND.hangup:
        this.#endReason = 'hangup';
        this.#socket.end();
        return;
      case KIND.error:
        this.#endReason = `peer_error_${frame.payload[0] ?? 0}`;
        this.#log.warn({ code: frame.payload[0] }, 'AudioSocket peer reported an error');
        this.#socket.end();
        return;
      case KIND.uuid:
        this.#malformedFrame('duplicate_uuid', 'UUID after the first frame');
        return;
      default:
        this.#malformedFrame('unknown_kind', `kind 0x${frame.kind.toString(16)}`);
    }
  }

  #audio(rate: number, payload: Buffer): void {
    if (!this.#entry) {
      this.#entry = this.#server.open(this.#uuid as string, rate, this.#socket, this.#log);
      if (!this.#entry) {
        this.#socket.destroySoon();
        return;
      }
      clearTimeout(this.#timer);
      this.#rate = rate;
      this.#track =
        [...this.#entry.legs.entries()].find(([, l]) => l.socket === this.#socket)?.[0] ?? 'inbound';
      const call = this.#entry.call as Call;
      for (const digit of this.#earlyDigits.splice(0)) call.recordDtmf(digit, this.#track);
    }
    if (rate !== this.#rate) {
      this.#malformedFrame('rate_changed', `audio at ${rate} Hz on a ${this.#rate} Hz leg`);
      return;
    }
    if (payload.length % 2 !== 0) this.#malformedFrame('odd_audio_length', `${payload.length} bytes`);
    const leg = this.#entry.legs.get(this.#track);
    const target = this.#entry.call?.legs.get(this.#track);
    if (!leg || !target || payload.length < 2) return;
    const [pcm] = pcmFromLittleEndian(payload);
    target.pushPcm(leg.position, pcm);
    leg.position += pcm.length;
  }

  #malformedFrame(reason: string, detail: string): void {
    this.#server.countMalformed(reason);
    const count = this.#entry?.call ? this.#entry.call.countMalformed(reason) : ++this.#malformed;
    this.#log[count <= LOUD_WARNINGS ? 'warn' : 'debug'](
      { reason, detail, count },
      'malformed AudioSocket frame',
    );
    if (count >= this.#server.maxMalformed) this.#fail('too_many_malformed', `${count} malformed frames`);
  }

  /** `reason`: the malformed-message reason to count, if that is why. */
  #fail(reason: string | undefined, detail: string): void {
    this.#endReason = `protocol_error: ${detail}`;
    if (reason) this.#server.countMalformed(reason);
    this.#log.warn({ reason, detail }, 'closing AudioSocket connection');
    if (!this.#socket.destroyed) this.#socket.end(encodeFrame(KIND.hangup));
    this.#socket.destroySoon();
  }
}
