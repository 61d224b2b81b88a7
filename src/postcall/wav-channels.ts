import type { Readable } from 'node:stream';
import { mulawToPcm } from '../audio/g711.js';
import { VoxlineError } from '../errors.js';

export interface WavLayout {
  readonly channels: number;
  readonly sampleRate: number;
}

/** At most this many header bytes before the data chunk (voxline's own WAVs have 44 or 58). */
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * A WAV stream (PCM16 or μ-law, as voxline records them) read once, as blocks of 16-bit samples per
 * channel: `onLayout` first, then each block of whole sample frames as it arrives, so a recording
 * of any length passes through bounded memory. What follows the data chunk (pause markers) is not
 * audio and is skipped. A stream that is not such a WAV fails with VL_ERR_BAD_REQUEST.
 */
export async function* wavChannels(
  wav: Readable,
  onLayout: (layout: WavLayout) => void,
): AsyncGenerator<Int16Array[]> {
  let head = Buffer.alloc(0);
  let format: { tag: number; channels: number; rate: number; bytesPerSample: number } | undefined;
  let remaining = -1;
  let carry = Buffer.alloc(0);
  for await (const piece of wav) {
    let chunk = piece as Buffer;
    if (remaining < 0) {
      head = Buffer.concat([head, chunk]);
      const parsed = parseHeader(head);
      if (!parsed) {
        if (head.length > MAX_HEADER_BYTES) throw bad('no data chunk in the first 64 KiB');
        continue;
      }
      format = parsed.format;
      remaining = parsed.dataBytes;
      onLayout({ channels: format.channels, sampleRate: format.rate });
      chunk = head.subarray(parsed.dataStart);
      head = Buffer.alloc(0);
    }
    if (!format || remaining === 0) continue;
    const take = chunk.subarray(0, Math.min(chunk.length, remaining));
    remaining -= take.length;
    const bytes = carry.length > 0 ? Buffer.concat([carry, take]) : take;
    const frameBytes = format.bytesPerSample * format.channels;
    const whole = bytes.length - (bytes.length % frameBytes);
    carry = Buffer.from(bytes.subarray(whole));
    if (whole > 0) yield deinterleave(bytes.subarray(0, whole), format);
  }
  if (remaining < 0) throw bad('the stream ended before its data chunk');
}

function parseHeader(head: Buffer) {
  if (head.length < 12) return undefined;
  if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE')
    throw bad('not a RIFF/WAVE file');
  let at = 12;
  let format: { tag: number; channels: number; rate: number; bytesPerSample: number } | undefined;
  while (at + 8 <= head.length) {
    const id = head.toString('ascii', at, at + 4);
    const size = head.readUInt32LE(at + 4);
    if (id === 'data') {
      if (!format) throw bad('data before fmt');
      return { format, dataBytes: size, dataStart: at + 8 };
    }
    if (at + 8 + size > head.length) return undefined;
    if (id === 'fmt ') {
      if (size < 16) throw bad(`a fmt chunk of ${size} bytes`);
      const tag = head.readUInt16LE(at + 8);
      const channels = head.readUInt16LE(at + 10);
      const rate = head.readUInt32LE(at + 12);
      const bits = head.readUInt16LE(at + 22);
      if (!((tag === 1 && bits === 16) || (tag === 7 && bits === 8)))
        throw bad(`format ${tag}/${bits} bits: only PCM16 and μ-law are read`);
      if (channels < 1 || channels > 8 || rate < 4_000 || rate > 96_000) throw bad('implausible fmt chunk');
      format = { tag, channels, rate, bytesPerSample: bits / 8 };
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

function deinterleave(
  bytes: Buffer,
  format: { tag: number; channels: number; bytesPerSample: number },
): Int16Array[] {
  const frames = bytes.length / (format.bytesPerSample * format.channels);
  const out = Array.from({ length: format.channels }, () => new Int16Array(frames));
  if (format.tag === 7) {
    const linear = mulawToPcm(bytes);
    for (let i = 0, k = 0; i < frames; i++)
      for (let c = 0; c < format.channels; c++) (out[c] as Int16Array)[i] = linear[k++] as number;
    return out;
  }
  for (let i = 0, k = 0; i < frames; i++)
    for (let c = 0; c < format.channels; c++, k += 2) (out[c] as Int16Array)[i] = bytes.readInt16LE(k);
  return out;
}

function bad(detail: string): VoxlineError {
  return new VoxlineError('VL_ERR_BAD_REQUEST', `recording: ${detail}`);
}
