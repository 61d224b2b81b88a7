import type { Socket } from 'node:dgram';
import type { Leg } from '../../calls/leg.js';
import { buildRtp, type RtpPacket } from '../sip/rtp.js';
import { rtpFrameEncoder } from '../sip/rtp-frame-encoder.js';
import type { AriFormat } from './ari-config.js';

/**
 * What voxline sends with: RFC 3551's static types; slin16 has none (118 is Asterisk's own
 * mapping, unconfirmed). What arrives is taken whatever its type: Asterisk picks, nothing is negotiated.
 */
const STATIC_PT: Readonly<Record<AriFormat, number | undefined>> = { ulaw: 0, alaw: 8, slin16: undefined };

/** Samples per RTP timestamp tick is 1 for all three formats (8 kHz G.711, 16 kHz L16). */
export const FORMAT_RATE: Readonly<Record<AriFormat, number>> = { ulaw: 8000, alaw: 8000, slin16: 16_000 };

const HALF_RANGE = 2 ** 31;

/**
 * One externalMedia stream: RTP from Asterisk's UNICASTRTP_LOCAL_ADDRESS:PORT into one leg, on
 * the RTP clock (the leg's aligner reorders and fills), and agent audio back to that address.
 */
export class AriRtpStream {
  readonly source: string;
  readonly #leg: Leg;
  readonly #format: AriFormat;
  /** Where on the leg's timeline this stream's first packet goes (a later snoop starts later). */
  #base: number;
  /** The leg position just past the latest audio, where a new SSRC carries on. */
  #end = 0;
  #firstTimestamp: number | undefined;
  #ssrc: number | undefined;
  packets = 0;
  // Sending
  readonly #outSsrc = (Math.random() * 2 ** 32) >>> 0;
  #outSequence = (Math.random() * 0x10000) >>> 0;
  #outTimestamp = (Math.random() * 2 ** 32) >>> 0;

  constructor(source: string, leg: Leg, format: AriFormat, base: number) {
    this.source = source;
    this.#leg = leg;
    this.#format = format;
    this.#base = base;
  }

  /** One packet from `source`; a reason when it is refused. */
  receive(packet: RtpPacket): string | undefined {
    if (this.#format === 'slin16' && packet.payload.length % 2 !== 0) return 'odd_length';
    if (this.#ssrc !== packet.ssrc) {
      // A new SSRC restarts the timestamps: carry on from where the leg has got to.
      if (this.#ssrc !== undefined) this.#base = this.#end;
      this.#firstTimestamp = packet.timestamp;
      this.#ssrc = packet.ssrc;
    }
    let offset = (packet.timestamp - (this.#firstTimestamp as number)) >>> 0;
    if (offset >= HALF_RANGE) offset -= 2 ** 32; // a packet from before the first one
    const start = this.#base + offset;
    const samples = this.#format === 'slin16' ? packet.payload.length / 2 : packet.payload.length;
    this.#end = Math.max(this.#end, start + samples);
    this.packets++;
    if (this.#format === 'slin16') {
      // RFC 3551 §4.5.11: L16 is in network byte order.
      const { payload } = packet;
      const pcm = new Int16Array(payload.length / 2);
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(2 * i);
      this.#leg.pushPcm(start, pcm);
    } else {
      this.#leg.pushBytes(start, packet.payload);
    }
    return undefined;
  }

  /** A sender of 20 ms frames of 16 kHz PCM (agent audio) to `address:port` over `socket`. */
  sender(socket: Socket, address: string, port: number): (frame: Int16Array) => void {
    const { pt, encode } = this.#encoder();
    let talking = false;
    return (frame) => {
      const payload = encode(frame);
      const packet = buildRtp(pt, this.#outSequence, this.#outTimestamp, this.#outSsrc, payload, !talking);
      talking = true;
      this.#outSequence = (this.#outSequence + 1) & 0xffff;
      this.#outTimestamp = (this.#outTimestamp + (this.#format === 'slin16' ? 320 : 160)) >>> 0;
      socket.send(packet, port, address);
    };
  }

  #encoder(): { pt: number; encode: (frame: Int16Array) => Uint8Array } {
    if (this.#format === 'slin16') {
      return {
        pt: 118,
        encode: (frame) => {
          const out = Buffer.allocUnsafe(frame.length * 2);
          for (let i = 0; i < frame.length; i++) out.writeInt16BE(frame[i], 2 * i);
          return out;
        },
      };
    }
    const encode = rtpFrameEncoder(this.#format === 'alaw' ? 'pcma' : 'pcmu');
    return { pt: STATIC_PT[this.#format] as number, encode };
  }
}
