import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileTask, WavBody, type WrittenRecording } from './wav-body.js';
import { headerBytesOf, type RecordingFormat, WAV_MAX_DATA_BYTES, wavHeader } from './wav-format.js';

export type { RecordingWriter, WrittenRecording } from './wav-body.js';
export { FORMATS, type RecordingFormat } from './wav-format.js';

/**
 * A WAV file written while the call runs: a header whose sizes are rewritten at every flush, so
 * a crash leaves a playable file up to the last flush. PCM16 uses the 44-byte canonical header;
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

  /** The sample bytes in their place, then the header with the new sizes. */
  protected writeData(bytes: Buffer, offset: number): FileTask {
    const at = this.headerBytes + offset;
    const header = wavHeader(this.format, this.channels, offset + bytes.length);
    return async (file) => {
      await file.write(bytes, 0, bytes.length, at);
      await file.write(header, 0, header.length, 0);
    };
  }

  /** The marks after the data, and the header that counts them. */
  protected writeEnd(dataBytes: number, tail: Buffer): FileTask {
    const at = this.headerBytes + dataBytes;
    const header = wavHeader(this.format, this.channels, dataBytes, tail.length);
    return async (file) => {
      if (tail.length > 0) {
        await file.write(tail, 0, tail.length, at);
        await file.write(header, 0, header.length, 0);
      }
    };
  }

  /** The file's sha256, read back from the disk. */
  protected async written(dataBytes: number, tailBytes: number): Promise<WrittenRecording> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(this.path)) hash.update(chunk as Buffer);
    return { sha256: hash.digest('hex'), bytes: this.headerBytes + dataBytes + tailBytes };
  }
}
