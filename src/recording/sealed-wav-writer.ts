import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Keyring } from '../crypto/keyring.js';
import { SealedFileWriter } from '../crypto/sealed-file.js';
import { fileSource } from '../crypto/sealed-source.js';
import { encodeDescription, encodeFinal, openSealedRecording } from './sealed-recording.js';
import { type FileTask, WavBody, type WrittenRecording } from './wav-body.js';
import { headerBytesOf, type RecordingFormat, WAV_MAX_DATA_BYTES } from './wav-format.js';

/** Encryption at rest for a recording: the keyring, and the context its data key is bound to. */
export interface Sealing {
  readonly keyring: Keyring;
  /** recordingContext(callSid). */
  readonly context: string;
}

/**
 * A recording sealed as it is written (sealed-recording.ts): append-only, one AES-256-GCM segment
 * per append (the recorder appends once per flush, 500 ms), the WAV's header and markers in the
 * final segment. Nothing in clear touches the disk. A crash leaves the flushed segments, which
 * `npm run recording:decrypt -- --partial` recovers. Decrypted, the file is the WAV the clear
 * WavWriter writes for the same appends; close() reads it back through the reader to hash it,
 * which also proves it opens. The size bound, the queue and close() are the clear writer's
 * (wav-body.ts).
 */
export class SealedWavWriter extends WavBody {
  readonly #sealer: SealedFileWriter;
  readonly #keyring: Keyring;
  readonly #sealedHash = createHash('sha256');
  #written = 0;

  constructor(
    path: string,
    format: RecordingFormat,
    channels: number,
    sealing: Sealing,
    maxDataBytes = WAV_MAX_DATA_BYTES,
  ) {
    super(path, format, channels, maxDataBytes);
    this.#keyring = sealing.keyring;
    this.#sealer = new SealedFileWriter(sealing.keyring, sealing.context);
    const start = Buffer.concat([this.#sealer.header, this.#sealer.segment(encodeDescription(this))]);
    this.enqueue((file) => this.#write(file, start));
  }

  get keyId(): string {
    return this.#sealer.keyId;
  }

  /** A segment: sealed when its turn to be written comes, off the flush that appended it. */
  protected writeData(bytes: Buffer): FileTask {
    return (file) => this.#write(file, this.#sealer.segment(bytes));
  }

  /** The final segment: the description, the data's size and the markers. */
  protected writeEnd(dataBytes: number, tail: Buffer): FileTask {
    return (file) => this.#write(file, this.#sealer.finish(encodeFinal(this, dataBytes, tail)));
  }

  /** The decrypted WAV's sha256 (read back through the reader) and the sealed file's. */
  protected async written(dataBytes: number, tailBytes: number): Promise<WrittenRecording> {
    const recording = await openSealedRecording(await fileSource(this.path), this.#keyring);
    const hash = createHash('sha256');
    for await (const chunk of recording.wav()) hash.update(chunk as Buffer);
    return {
      sha256: hash.digest('hex'),
      bytes: headerBytesOf(this.format) + dataBytes + tailBytes,
      sealed: { keyId: this.keyId, sha256: this.#sealedHash.digest('hex'), bytes: this.#written },
    };
  }

  async #write(file: FileHandle, bytes: Buffer): Promise<void> {
    const at = this.#written;
    this.#written += bytes.length;
    this.#sealedHash.update(bytes);
    await file.write(bytes, 0, bytes.length, at);
  }
}
