import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/*
 * The double's own AudioSocket framing, written from the wire format (res_audiosocket.c), not
 * borrowed from voxline: 1 byte kind, 2 bytes big-endian payload length, the payload. Checked
 * against exact bytes in asterisk-audiosocket.test.ts.
 */

/** Frame kinds on the wire. */
export const WIRE_KIND = {
  hangup: 0x00,
  uuid: 0x01,
  dtmf: 0x03,
  slin: 0x10,
  error: 0xff,
} as const;

/** One frame as the double read it off the wire. */
export interface WireFrame {
  readonly kind: number;
  readonly payload: Buffer;
}

/** One frame's bytes: kind, length (big-endian u16), payload. */
export function frameBytes(kind: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (payload.length > 0xffff) throw new RangeError(`payload of ${payload.length} bytes`);
  const out = Buffer.alloc(3 + payload.length);
  out[0] = kind;
  out[1] = payload.length >> 8;
  out[2] = payload.length & 0xff;
  out.set(payload, 3);
  return out;
}

/** A UUID's 16 bytes, in the order its hex digits are written. */
export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** Signed 16-bit samples, little-endian (AudioSocket's slin). */
export function slinBytes(pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], i * 2);
  return out;
}

/** Cuts a byte stream into frames, keeping a partial frame until the rest arrives. */
export class WireFrameReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WireFrame[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: WireFrame[] = [];
    while (this.#pending.length >= 3) {
      const length = (this.#pending[1] << 8) | this.#pending[2];
      if (this.#pending.length < 3 + length) break;
      frames.push({ kind: this.#pending[0], payload: Buffer.from(this.#pending.subarray(3, 3 + length)) });
      this.#pending = this.#pending.subarray(3 + length);
    }
    return frames;
  }
}

/**
 * Stands in for Asterisk's AudioSocket side (app_audiosocket / chan_audiosocket): connects, sends
 * the UUID, then signed-linear audio frames, DTMF and a close, exactly as res_audiosocket.c frames
 * them. Collects what voxline sends back.
 */
export class AsteriskAudioSocket {
  readonly uuid: string;
  readonly received: WireFrame[] = [];
  /** performance.now() at each received frame. */
  readonly receivedAt: number[] = [];
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #reader = new WireFrameReader();

  private constructor(socket: Socket, uuid: string) {
    this.#socket = socket;
    this.uuid = uuid;
    socket.on('data', (chunk) => {
      for (const frame of this.#reader.push(chunk)) {
        this.received.push(frame);
        this.receivedAt.push(performance.now());
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  static async connect(port: number, uuid: string = randomUUID()): Promise<AsteriskAudioSocket> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new AsteriskAudioSocket(socket, uuid);
  }

  sendUuid(): void {
    this.raw(frameBytes(WIRE_KIND.uuid, uuidBytes(this.uuid)));
  }

  /** PCM at `kind`'s rate, cut into 20 ms frames; `paceMs` 20 plays it in real time, 0 at once. */
  async sendAudio(pcm: Int16Array, rate = 8000, kind: number = WIRE_KIND.slin, paceMs = 0): Promise<void> {
    const step = rate / 50;
    for (let at = 0; at < pcm.length; at += step) {
      this.raw(frameBytes(kind, slinBytes(pcm.subarray(at, at + step))));
      if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
  }

  sendDtmf(digit: string): void {
    this.raw(frameBytes(WIRE_KIND.dtmf, Buffer.from(digit, 'latin1')));
  }

  raw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Asterisk hangs up by closing the socket (it never sends a hangup frame itself). */
  async hangUp(): Promise<void> {
    this.#socket.end();
    await this.closed;
  }
}
