import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import type { Keyring } from '../crypto/keyring.js';
import { SealedFileWriter } from '../crypto/sealed-file.js';
import { fileSource } from '../crypto/sealed-source.js';
import { encodeDescription, encodeFinal, openSealedRecording } from './sealed-recording.js';
import { FORMATS, framesOf, headerBytesOf, type RecordingFormat, WAV_MAX_DATA_BYTES } from './wav-format.js';
import { markerChunks, type WavMark } from './wav-markers.js';
import type { RecordingWriter, WrittenRecording } from './wav-writer.js';

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
 * which also proves it opens.
 */
export class SealedWavWriter implements RecordingWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  readonly #maxDataBytes: number;
  readonly #sealer: SealedFileWriter;
  readonly #keyring: Keyring;
  readonly #sealedHash = createHash('sha256');
  truncated = false;
  #file: FileHandle | undefined;
  #dataBytes = 0;
  #written = 0;
  #chain: Promise<void>;
  #failed: Error | undefined;

  constructor(
    path: string,
    format: RecordingFormat,
    channels: number,
    sealing: Sealing,
    maxDataBytes = WAV_MAX_DATA_BYTES,
  ) {
    this.path = path;
    this.format = format;
    this.channels = channels;
    this.#keyring = sealing.keyring;
    this.#maxDataBytes = Math.min(maxDataBytes, WAV_MAX_DATA_BYTES);
    this.#sealer = new SealedFileWriter(sealing.keyring, sealing.context);
    const start = Buffer.concat([this.#sealer.header, this.#sealer.segment(encodeDescription(this))]);
    this.#chain = open(path, 'w').then(
      async (file) => {
        this.#file = file;
        await this.#write(file, start);
      },
      (err: Error) => {
        this.#failed = err;
      },
    );
  }

  get keyId(): string {
    return this.#sealer.keyId;
  }

  get dataBytes(): number {
    return this.#dataBytes;
  }

  get durationMs(): number {
    const f = FORMATS[this.format];
    return (this.#dataBytes / (f.bytesPerSample * this.channels) / f.sampleRate) * 1000;
  }

  /** Queues a segment: sealed when its turn to be written comes, off the flush that appended it. */
  append(bytes: Buffer): void {
    if (this.truncated || this.#dataBytes + bytes.length > this.#maxDataBytes) {
      this.truncated = true;
      return;
    }
    this.#dataBytes += bytes.length;
    this.#enqueue((file) => this.#write(file, this.#sealer.segment(bytes)));
  }

  async close(marks: readonly WavMark[] = []): Promise<WrittenRecording> {
    const dataBytes = this.#dataBytes;
    const tail = markerChunks(
      marks,
      FORMATS[this.format].sampleRate,
      framesOf(this.format, this.channels, dataBytes),
      dataBytes,
    );
    this.#enqueue(async (file) => {
      await this.#write(file, this.#sealer.finish(encodeFinal(this, dataBytes, tail)));
      await file.sync();
      await file.close();
      this.#file = undefined;
    });
    await this.#chain;
    if (this.#failed) {
      await this.#file?.close().catch(() => undefined);
      throw this.#failed;
    }
    const recording = await openSealedRecording(await fileSource(this.path), this.#keyring);
    const hash = createHash('sha256');
    for await (const chunk of recording.wav()) hash.update(chunk as Buffer);
    return {
      sha256: hash.digest('hex'),
      bytes: headerBytesOf(this.format) + dataBytes + tail.length,
      sealed: { keyId: this.keyId, sha256: this.#sealedHash.digest('hex'), bytes: this.#written },
    };
  }

  async #write(file: FileHandle, bytes: Buffer): Promise<void> {
    const at = this.#written;
    this.#written += bytes.length;
    this.#sealedHash.update(bytes);
    await file.write(bytes, 0, bytes.length, at);
  }

  #enqueue(task: (file: FileHandle) => Promise<void>): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed || !this.#file) return;
      try {
        await task(this.#file);
      } catch (err) {
        this.#failed = err as Error;
      }
    });
  }
}
