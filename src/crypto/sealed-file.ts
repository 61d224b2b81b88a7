import { randomBytes } from 'node:crypto';
import type { Keyring } from './keyring.js';
import { seal } from './sealed-box.js';
import {
  encodeHeader,
  encodeTrailer,
  FILE_ID_BYTES,
  MAX_SEGMENT_BYTES,
  segmentAad,
  u32,
} from './sealed-file-format.js';

/**
 * Seals a file as it is written, front to back (layout: sealed-file-format.ts): `header` first,
 * then the bytes of each `segment`, then `finish`'s. Pure: it hands back bytes, the caller writes
 * them in order. A fresh data key per file, wrapped under the keyring's current master key and
 * bound to `context` (e.g. `recording:<callSid>`); the key is wiped once finished.
 */
export class SealedFileWriter {
  readonly header: Buffer;
  /** The master key the data key is wrapped under (never the key itself). */
  readonly keyId: string;
  #key: Buffer | undefined;
  #index = 0;

  constructor(keyring: Keyring, context: string) {
    const { key, wrapped } = keyring.newDataKey(context);
    this.#key = key;
    this.keyId = keyring.currentId;
    this.header = encodeHeader(randomBytes(FILE_ID_BYTES), context, wrapped);
  }

  /** Segments written so far (the next one's index). */
  get segments(): number {
    return this.#index;
  }

  /** The bytes that carry `plaintext` as the next segment(s) (split at MAX_SEGMENT_BYTES). */
  segment(plaintext: Uint8Array): Buffer {
    const frames: Buffer[] = [];
    for (let at = 0; at < plaintext.length || (at === 0 && plaintext.length === 0); ) {
      const piece = plaintext.subarray(at, at + MAX_SEGMENT_BYTES);
      frames.push(this.#frame(piece, false));
      at += Math.max(piece.length, 1);
    }
    return Buffer.concat(frames);
  }

  /** The final segment (at most MAX_SEGMENT_BYTES) and the trailer; nothing can follow. */
  finish(plaintext: Uint8Array): Buffer {
    if (plaintext.length > MAX_SEGMENT_BYTES) throw new RangeError('the final segment is too long');
    const segments = this.#index;
    const frame = this.#frame(plaintext, true);
    (this.#key as Buffer).fill(0);
    this.#key = undefined;
    return Buffer.concat([frame, encodeTrailer(segments, frame.length - 4)]);
  }

  #frame(plaintext: Uint8Array, final: boolean): Buffer {
    if (!this.#key) throw new Error('sealed file already finished');
    const box = seal(this.#key, plaintext, segmentAad(this.header, this.#index, final));
    this.#index++;
    return Buffer.concat([u32(box.length), box]);
  }
}
