import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export type RecordingFormat = 'pcm16' | 'mulaw';

export const FORMATS = {
  pcm16: { sampleRate: 16_000, bytesPerSample: 2, formatTag: 1, silence: 0x00 },
  mulaw: { sampleRate: 8_000, bytesPerSample: 1, formatTag: 7, silence: 0xff },
} as const;

/**
 * A WAV file written while the call runs: a header whose sizes are rewritten at every flush, so
 * a crash leaves a playable file up to the last flush. PCM16 uses the 44-byte canonical header;
 * μ-law (format 7) has the 18-byte fmt chunk and the fact chunk that non-PCM formats carry.
 * Writes are queued in order; nothing waits on them on the audio path.
 */
/** WAV sizes are 32-bit: the RIFF size (data + header − 8) must fit in 2^32 − 1. */
const WAV_MAX_DATA_BYTES = 0xffff_ffff - 64;

export class WavWriter {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly channels: number;
  readonly #maxDataBytes: number;
  /** The file reached the WAV size limit: later audio is not written (the file stays valid). */
  truncated = false;
  #file: FileHandle | undefined;
  #dataBytes = 0;
  #chain: Promise<void> = Promise.resolve();
  #failed: Error | undefined;

  /** Opens (truncates) the file and writes the header, in the background like every write. */
  constructor(path: string, format: RecordingFormat, channels: number, maxDataBytes = WAV_MAX_DATA_BYTES) {
    this.path = path;
    this.format = format;
    this.channels = channels;
    this.#maxDataBytes = Math.min(maxDataBytes, WAV_MAX_DATA_BYTES);
    const header = this.#header();
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
    return this.format === 'pcm16' ? 44 : 58;
  }

  /** Bytes handed to `append` so far (written, or queued to be). */
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
    const header = this.#header();
    this.#enqueue(async (file) => {
      await file.write(bytes, 0, bytes.length, at);
      await file.write(header, 0, header.length, 0);
    });
  }

  /** Waits for queued writes, closes the file, and returns its sha256. */
  async close(): Promise<{ sha256: string; bytes: number }> {
    this.#enqueue(async (file) => {
      await file.sync();
      await file.close();
      this.#file = undefined;
    });
    await this.#chain;
    if (this.#failed) throw this.#failed;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: this.headerBytes + this.#dataBytes };
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

  #header(): Buffer {
    const f = FORMATS[this.format];
    const pcm = this.format === 'pcm16';
    const out = Buffer.alloc(this.headerBytes);
    const blockAlign = f.bytesPerSample * this.channels;
    out.write('RIFF', 0, 'ascii');
    out.writeUInt32LE(this.headerBytes - 8 + this.#dataBytes, 4);
    out.write('WAVE', 8, 'ascii');
    out.write('fmt ', 12, 'ascii');
    out.writeUInt32LE(pcm ? 16 : 18, 16);
    out.writeUInt16LE(f.formatTag, 20);
    out.writeUInt16LE(this.channels, 22);
    out.writeUInt32LE(f.sampleRate, 24);
    out.writeUInt32LE(f.sampleRate * blockAlign, 28);
    out.writeUInt16LE(blockAlign, 32);
    out.writeUInt16LE(f.bytesPerSample * 8, 34);
    let at = 36;
    if (!pcm) {
      out.writeUInt16LE(0, 36); // cbSize
      out.write('fact', 38, 'ascii');
      out.writeUInt32LE(4, 42);
      out.writeUInt32LE(this.#dataBytes / blockAlign, 46);
      at = 50;
    }
    out.write('data', at, 'ascii');
    out.writeUInt32LE(this.#dataBytes, at + 4);
    return out;
  }
}
