import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileTask, WavBody, type WrittenRecording } from './wav-body.js';
import { FORMATS, headerBytesOf, type RecordingFormat, WAV_MAX_DATA_BYTES, wavHeader } from './wav-format.js';

export type { RecordingWriter, WrittenRecording } from './wav-body.js';
export { FORMATS, type RecordingFormat } from './wav-format.js';

/** The header's sizes are rewritten with the first audio, then every this much audio, and at close. */
export const HEADER_REWRITE_MS = 5_000;

/**
 * A WAV file written while the call runs. Its header's sizes are brought up to date with the first
 * audio, every HEADER_REWRITE_MS of audio after that, and at close (a rewrite per flush was a
 * second write per call per flush): a crash leaves a file that plays up to its last rewrite, with
 * at most that much audio after it on disk (and what the recorder held). PCM16 uses the 44-byte canonical header;
 * μ-law (format 7) has the 18-byte fmt chunk and the fact chunk that non-PCM formats carry.
 * Writes are queued in order; nothing waits on them on the audio path (wav-body.ts).
 */
export class WavWriter extends WavBody {
  /** Opens (truncates) the file and writes the header, in the background like every write. */
  constructor(path: string, format: RecordingFormat, channels: number, maxDataBytes = WAV_MAX_DATA_BYTES) {
    super(path, format, channels, maxDataBytes);
    const header = wavHeader(format, channels, 0);
    this.enqueue(async (file) => {
      await file.write(header, 0, header.length, 0);
    });
  }

  get headerBytes(): number {
    return headerBytesOf(this.format);
  }

  /** The sample bytes in their place; the header with the new sizes when its cadence comes up. */
  protected writeData(bytes: Buffer, offset: number): FileTask {
    const at = this.headerBytes + offset;
    const end = offset + bytes.length;
    const every = this.#headerEveryBytes();
    const header =
      offset === 0 || Math.floor(end / every) > Math.floor(offset / every)
        ? wavHeader(this.format, this.channels, end)
        : undefined;
    return async (file) => {
      await file.write(bytes, 0, bytes.length, at);
      if (header) await file.write(header, 0, header.length, 0);
    };
  }

  /** The marks after the data, and the header that counts all of it. */
  protected writeEnd(dataBytes: number, tail: Buffer): FileTask {
    const at = this.headerBytes + dataBytes;
    const header = wavHeader(this.format, this.channels, dataBytes, tail.length);
    return async (file) => {
      if (tail.length > 0) await file.write(tail, 0, tail.length, at);
      await file.write(header, 0, header.length, 0);
    };
  }

  #headerEveryBytes(): number {
    const f = FORMATS[this.format];
    return Math.max(
      1,
      Math.round((f.sampleRate * f.bytesPerSample * this.channels * HEADER_REWRITE_MS) / 1000),
    );
  }

  /** The file's sha256, read back from the disk. */
  protected async written(dataBytes: number, tailBytes: number): Promise<WrittenRecording> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: this.headerBytes + dataBytes + tailBytes };
  }
}
