import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  type AudioSocketFrame,
  encodeFrame,
  FrameReader,
  KIND,
  pcmToLittleEndian,
  uuidToBytes,
} from '../../src/carriers/audiosocket/frames.js';

/**
 * Stands in for Asterisk's AudioSocket side (app_audiosocket / chan_audiosocket): connects, sends
 * the UUID, then signed-linear audio frames, DTMF and a close, exactly as res_audiosocket.c frames
 * them. Collects what voxline sends back.
 */
export class AsteriskAudioSocket {
  readonly uuid: string;
  readonly received: AudioSocketFrame[] = [];
  /** performance.now() at each received frame. */
  readonly receivedAt: number[] = [];
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #reader = new FrameReader();

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
    this.raw(encodeFrame(KIND.uuid, uuidToBytes(this.uuid)));
  }

  /** PCM at `kind`'s rate, cut into 20 ms frames; `paceMs` 20 plays it in real time, 0 at once. */
  async sendAudio(pcm: Int16Array, rate = 8000, kind = 0x10, paceMs = 0): Promise<void> {
    const step = rate / 50;
    for (let at = 0; at < pcm.length; at += step) {
      this.raw(encodeFrame(kind, pcmToLittleEndian(pcm.subarray(at, at + step))));
      if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
  }

  sendDtmf(digit: string): void {
    this.raw(encodeFrame(KIND.dtmf, Buffer.from(digit, 'latin1')));
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
