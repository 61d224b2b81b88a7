import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import {
  FORMATS,
  framesOf,
  headerBytesOf,
  type RecordingFormat,
  WAV_MAX_DATA_BYTES,
  wavHeader,
} from './wav-format.js';
import { markerChunks, type WavMark } from './wav-markers.js';

export { FORMATS, type RecordingFormat } from './wav-format.js';

/** What a finished recording file is: the WAV's sha256 and size, and, sealed, the file's own. */
export interface WrittenRecording {
  /** Of the WAV a listener gets (the decrypted one, for a sealed file). */
  readonly sha256: string;
  readonly bytes: number;
  /** Sealed (ENCRYPTION_KEY): the master key's id, and the sha256 and size of the file on disk. */
  readonly sealed?: { readonly keyId: string; readonly sha256: string; readonly bytes: number };
}

/** The recorder's file: the clear WavWriter, or the SealedWavWriter (encryption at rest). */
export interface RecordingWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  /** The file reached the WAV size limit: later audio is not written (the file stays valid). */
  readonly truncated: boolean;
  /** Bytes handed to `append` so far (written, or queued to be). */
  readonly dataBytes: number;
  readonly durationMs: number;
  /** Queues interleaved sample bytes; nothing waits on the write. */
  append(bytes: Buffer): void;
  /** Writes `marks` (cue points and labelled regions) after the data, and closes the file. */
  close(marks?: readonly WavMark[]): Promise<WrittenRecording>;
}

/**
 * A WAV file written while the call runs: a header whose sizes are rewritten at every flush, so
 * a crash leaves a playable file up to the last flush. PCM16 uses the 44-byte canonical header;
 * μ-law (format 7) has the 18-byte fmt chunk and the fact chunk that non-PCM formats carry.
 * Writes are queued in order; nothing waits on them on the audio path.
 */
export class WavWriter implements RecordingWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  readonly #maxDataBytes: number;
  truncated = false;
  #file: FileHandle | undefined;
  #dataBytes = 0;
  #tailBytes = 0;
  #chain: Promise<void> = Promise.resolve();
  #failed: Error | undefined;

  /** Opens (truncates) the file and writes the header, in the background like every write. */
  constructor(path: string, format: RecordingFormat, channels: number, maxDataBytes = WAV_MAX_DATA_BYTES) {
    this.path = path;
    this.format = format;
    this.channels = channels;
    this.#maxDataBytes = Math.min(maxDataBytes, WAV_MAX_DATA_BYTES);
    const header = wavHeader(format, channels, 0);
    this.#chain = open(path, 'w').then(
      async (file) => {
        this.#file = file;
        await file.write(header, 0, header.length, 0);
      },
      (err: Error) => {
        this.#failed = err;
      },
    );
  }

  get headerBytes(): number {
    return headerBytesOf(this.format);
  }

  get dataBytes(): number {
    return this.#dataBytes;
  }

  get durationMs(): number {
    const f = FORMATS[this.format];
    return (this.#dataBytes / (f.bytesPerSample * this.channels) / f.sampleRate) * 1000;
  }

  /** Queues interleaved sample bytes, then the header with the new sizes. */
  append(bytes: Buffer): void {
    // A call longer than a WAV can hold (about 74 h of stereo μ-law) keeps what fits; writing the
    // header past 4 GiB once threw a RangeError inside the recorder's flush timer.
    if (this.truncated || this.#dataBytes + bytes.length > this.#maxDataBytes) {
      this.truncated = true;
      return;
    }
    const at = this.headerBytes + this.#dataBytes;
    this.#dataBytes += bytes.length;
    const header = wavHeader(this.format, this.channels, this.#dataBytes);
    this.#enqueue(async (file) => {
      await file.write(bytes, 0, bytes.length, at);
      await file.write(header, 0, header.length, 0);
    });
  }

  /** Waits for queued writes, writes the marks, closes the file, and returns its sha256. */
  async close(marks: readonly WavMark[] = []): Promise<WrittenRecording> {
    const tail = markerChunks(
      marks,
      FORMATS[this.format].sampleRate,
      framesOf(this.format, this.channels, this.#dataBytes),
      this.#dataBytes,
    );
    this.#tailBytes = tail.length;
    const at = this.headerBytes + this.#dataBytes;
    const header = wavHeader(this.format, this.channels, this.#dataBytes, tail.length);
    this.#enqueue(async (file) => {
      if (tail.length > 0) {
        await file.write(tail, 0, tail.length, at);
        await file.write(header, 0, header.length, 0);
      }
      await file.sync();
      await file.close();
      this.#file = undefined;
    });
    await this.#chain;
    if (this.#failed) throw this.#failed;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: this.headerBytes + this.#dataBytes + this.#tailBytes };
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
