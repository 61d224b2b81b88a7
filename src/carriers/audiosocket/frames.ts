/**
 * Asterisk AudioSocket framing (res_audiosocket.c): a 3-byte header, kind u8 then payload length
 * u16 big-endian, then the payload. Audio is signed linear 16-bit little-endian mono.
 */

export const KIND = {
  hangup: 0x00,
  uuid: 0x01,
  dtmf: 0x03,
  error: 0xff,
} as const;

/** Audio kinds and their sample rates (0x11–0x18 since Asterisk 20.17 / 21.12 / 22.7 / 23.1). */
export const AUDIO_RATES: ReadonlyMap<number, number> = new Map([
  [0x10, 8000],
  [0x11, 12_000],
  [0x12, 16_000],
  [0x13, 24_000],
  [0x14, 32_000],
  [0x15, 44_100],
  [0x16, 48_000],
  [0x17, 96_000],
  [0x18, 192_000],
]);

export const AUDIO_KIND_FOR_RATE: ReadonlyMap<number, number> = new Map(
  [...AUDIO_RATES].map(([kind, rate]) => [rate, kind]),
);

export interface AudioSocketFrame {
  readonly kind: number;
  readonly payload: Buffer;
}

const HEADER = 3;

/**
 * Splits a TCP byte stream into frames, whatever the chunking. Bytes are copied only when a
 * frame straddles two chunks.
 */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the frames completed by them. */
  push(chunk: Buffer): AudioSocketFrame[] {
    const data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: AudioSocketFrame[] = [];
    let at = 0;
    while (data.length - at >= HEADER) {
      const length = data.readUInt16BE(at + 1);
      if (data.length - at - HEADER < length) break;
      frames.push({ kind: data[at], payload: data.subarray(at + HEADER, at + HEADER + length) });
      at += HEADER + length;
    }
    this.#pending = at === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(at));
    return frames;
  }

  /** Bytes of an incomplete frame waiting for the rest. */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}

export function encodeFrame(kind: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (payload.length > 0xffff) throw new RangeError(`AudioSocket payload of ${payload.length} bytes`);
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame[0] = kind;
  frame.writeUInt16BE(payload.length, 1);
  frame.set(payload, HEADER);
  return frame;
}

/** The 16 raw bytes of a UUID as its canonical string. */
export function uuidFromBytes(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}
