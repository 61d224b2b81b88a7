import { type FileHandle, open } from 'node:fs/promises';
import { FORMATS, framesOf, type RecordingFormat, WAV_MAX_DATA_BYTES } from './wav-format.js';
import { markerChunks, type WavMark } from './wav-markers.js';

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

/** One write on the open file, run in its turn. */
export type FileTask = (file: FileHandle) => Promise<void>;

/**
 * What the clear and the sealed writer share: the file opened (truncated) in the background, the
 * writes queued in order (nothing waits on them on the audio path; the first that fails stops the
 * rest, and close() throws it), the data-size bound with its `truncated` flag, the duration, and
 * close() (the markers after the data, sync, close). Only the sink differs: how appended bytes
 * and the end reach the file (`writeData`, `writeEnd`), and what the finished file is (`written`).
 */
export abstract class WavBody implements RecordingWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  readonly #maxDataBytes: number;
  truncated = false;
  #file: FileHandle | undefined;
  #dataBytes = 0;
  #chain: Promise<void>;
  #failed: Error | undefined;

  /** Opens (truncates) the file; a subclass queues what starts it (`enqueue`) in its constructor. */
  protected constructor(path: string, format: RecordingFormat, channels: number, maxDataBytes: number) {
    this.path = path;
    this.format = format;
    this.channels = channels;
    this.#maxDataBytes = Math.min(maxDataBytes, WAV_MAX_DATA_BYTES);
    this.#chain = open(path, 'w').then(
      (file) => {
        this.#file = file;
      },
      (err: Error) => {
        this.#failed = err;
      },
    );
  }

  get dataBytes(): number {
    return this.#dataBytes;
  }

  get durationMs(): number {
    const f = FORMATS[this.format];
    return (this.#dataBytes / (f.bytesPerSample * this.channels) / f.sampleRate) * 1000;
  }

  /** Queues interleaved sample bytes (the sink's `writeData`), as long as the WAV can hold them. */
  append(bytes: Buffer): void {
    // A call longer than a WAV can hold (about 74 h of stereo μ-law) keeps what fits; writing the
    // header past 4 GiB once threw a RangeError inside the recorder's flush timer.
    if (this.truncated || this.#dataBytes + bytes.length > this.#maxDataBytes) {
      this.truncated = true;
      return;
    }
    const offset = this.#dataBytes;
    this.#dataBytes += bytes.length;
    this.enqueue(this.writeData(bytes, offset));
  }

  /** Waits for queued writes, writes the end with the marks, closes the file, and says what it is. */
  async close(marks: readonly WavMark[] = []): Promise<WrittenRecording> {
    const dataBytes = this.#dataBytes;
    const tail = markerChunks(
      marks,
      FORMATS[this.format].sampleRate,
      framesOf(this.format, this.channels, dataBytes),
      dataBytes,
    );
    const end = this.writeEnd(dataBytes, tail);
    this.enqueue(async (file) => {
      await end(file);
      await file.sync();
      await file.close();
      this.#file = undefined;
    });
    await this.#chain;
    if (this.#failed) {
      await this.#file?.close().catch(() => undefined);
      throw this.#failed;
    }
    return this.written(dataBytes, tail.length);
  }

  /** Queues `task` after every write before it; skipped once the file failed to open or a write failed. */
  protected enqueue(task: FileTask): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed || !this.#file) return;
      try {
        await task(this.#file);
      } catch (err) {
        this.#failed = err as Error;
      }
    });
  }

  /** The write of `bytes`, the data from `offset` (data bytes before them) on; called as they are appended. */
  protected abstract writeData(bytes: Buffer, offset: number): FileTask;

  /** The write that ends the file: `dataBytes` of data, then `tail` (the markers' chunks). */
  protected abstract writeEnd(dataBytes: number, tail: Buffer): FileTask;

  /** What the file is, once closed. */
  protected abstract written(dataBytes: number, tailBytes: number): Promise<WrittenRecording>;
}
