export type RecordingFormat = 'pcm16' | 'mulaw';

export const FORMATS = {
  pcm16: { sampleRate: 16_000, bytesPerSample: 2, formatTag: 1, silence: 0x00 },
  mulaw: { sampleRate: 8_000, bytesPerSample: 1, formatTag: 7, silence: 0xff },
} as const;

/** What follows the data chunk at most (the pause markers: wav-markers.ts keeps within it). */
export const MAX_TAIL_BYTES = 32_768;
/** WAV sizes are 32-bit: the RIFF size (header − 8 + data + tail) must fit in 2^32 − 1. */
export const WAV_MAX_DATA_BYTES = 0xffff_ffff - 64 - MAX_TAIL_BYTES;

/** PCM16: the 44-byte canonical header; μ-law (format 7): the 18-byte fmt chunk and a fact chunk. */
export function headerBytesOf(format: RecordingFormat): number {
  return format === 'pcm16' ? 44 : 58;
}

/**
 * The header of a WAV of `dataBytes` of interleaved samples followed by `tailBytes` of further
 * chunks (RIFF counts them). The clear and the sealed writer both use it: their WAVs are the same.
 */
export function wavHeader(
  format: RecordingFormat,
  channels: number,
  dataBytes: number,
  tailBytes = 0,
): Buffer {
  const f = FORMATS[format];
  const pcm = format === 'pcm16';
  const size = headerBytesOf(format);
  const out = Buffer.alloc(size);
  const blockAlign = f.bytesPerSample * channels;
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(size - 8 + dataBytes + tailBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(pcm ? 16 : 18, 16);
  out.writeUInt16LE(f.formatTag, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(f.sampleRate, 24);
  out.writeUInt32LE(f.sampleRate * blockAlign, 28);
  out.writeUInt16LE(blockAlign, 32);
  out.writeUInt16LE(f.bytesPerSample * 8, 34);
  let at = 36;
  if (!pcm) {
    out.writeUInt16LE(0, 36); // cbSize
    out.write('fact', 38, 'ascii');
    out.writeUInt32LE(4, 42);
    out.writeUInt32LE(Math.floor(dataBytes / blockAlign), 46);
    at = 50;
  }
  out.write('data', at, 'ascii');
  out.writeUInt32LE(dataBytes, at + 4);
  return out;
}

/** Sample frames in `dataBytes` of the format's interleaved samples. */
export function framesOf(format: RecordingFormat, channels: number, dataBytes: number): number {
  return Math.floor(dataBytes / (FORMATS[format].bytesPerSample * channels));
}
