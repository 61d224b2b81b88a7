import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/** A mono 16-bit PCM WAV of `samples` at `sampleRate`: what one batch request carries. */
export function monoWav(samples: Int16Array, sampleRate: number): Uint8Array {
  const data = samples.length * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data, 40);
  // The samples' own bytes on a little-endian host (one copy, into the file); swapped elsewhere.
  const body = LITTLE_ENDIAN
    ? Buffer.from(samples.buffer, samples.byteOffset, data)
    : Buffer.from(
        Uint8Array.from({ length: data }, (_, i) => ((samples[i >> 1] as number) >> ((i & 1) * 8)) & 0xff),
      );
  return Buffer.concat([header, body]);
}
