import { type FileHandle, open } from 'node:fs/promises';
import { MAGIC } from './sealed-file-format.js';

/**
 * Random access to a sealed file's bytes, wherever they are (a local file, an S3 object, memory):
 * a reader reads the header and the end first, then streams the middle once.
 */
export interface SealedSource {
  readonly size: number;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Buffer>;
  /** Bytes [start, end) as they come, in chunks. */
  stream(start: number, end: number): AsyncIterable<Buffer>;
  close(): Promise<void>;
}

export function bufferSource(bytes: Uint8Array): SealedSource {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    size: data.length,
    read: async (start, end) => data.subarray(start, end),
    async *stream(start, end) {
      for (let at = start; at < end; at += 65_536) yield data.subarray(at, Math.min(end, at + 65_536));
    },
    close: async () => undefined,
  };
}

/** A local file, opened once (its size as it is now); close() releases the handle. */
export async function fileSource(path: string): Promise<SealedSource> {
  const file = await open(path, 'r');
  try {
    return new FileSource(file, (await file.stat()).size);
  } catch (err) {
    await file.close();
    throw err;
  }
}

class FileSource implements SealedSource {
  readonly #file: FileHandle;
  readonly size: number;

  constructor(file: FileHandle, size: number) {
    this.#file = file;
    this.size = size;
  }

  async read(start: number, end: number): Promise<Buffer> {
    const out = Buffer.alloc(Math.max(0, end - start));
    let got = 0;
    while (got < out.length) {
      const { bytesRead } = await this.#file.read(out, got, out.length - got, start + got);
      if (bytesRead === 0) break; // the file shrank: what is there
      got += bytesRead;
    }
    return out.subarray(0, got);
  }

  async *stream(start: number, end: number): AsyncIterable<Buffer> {
    for (let at = start; at < end; ) {
      const chunk = await this.read(at, Math.min(end, at + 65_536));
      if (chunk.length === 0) return;
      yield chunk;
      at += chunk.length;
    }
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/** Whether the file at `path` starts as a sealed file does (its magic); false for a WAV. */
export async function isSealedFile(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC.length);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return bytesRead === MAGIC.length && head.equals(MAGIC);
  } finally {
    await file.close();
  }
}
