import type { Readable } from 'node:stream';
import type { SealedSource } from '../crypto/sealed-source.js';
import type { ObjectStore } from './object-store.js';

/**
 * A sealed recording in the bucket, read by ranged GetObjects: its header and its end first (two
 * small requests), then its segments in one streamed request. close() ends a stream still open.
 */
export function objectSource(store: ObjectStore, key: string, size: number): SealedSource {
  const open = new Set<Readable>();
  const get = async (start: number, end: number): Promise<Readable> => {
    const body = await store.get(key, start, end);
    open.add(body);
    body.once('close', () => open.delete(body));
    return body;
  };
  return {
    size,
    async read(start, end) {
      if (end <= start) return Buffer.alloc(0);
      const chunks: Buffer[] = [];
      for await (const chunk of await get(start, end)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async *stream(start, end) {
      if (end <= start) return;
      const body = await get(start, end);
      try {
        for await (const chunk of body) yield chunk as Buffer;
      } finally {
        body.destroy();
      }
    },
    async close() {
      for (const body of open) body.destroy();
    },
  };
}
