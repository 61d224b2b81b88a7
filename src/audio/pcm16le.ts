/**
 * PCM16 little-endian, the byte order of AudioSocket, browser calls and WAV files. Pure; the
 * samples are copied either way (a Buffer may be unaligned or pooled, and Int16Array follows the
 * host's byte order).
 */

/** Bytes → samples; with `channels` 2, interleaved frames → one array per channel. */
export function pcmFromLittleEndian(bytes: Buffer, channels = 1): Int16Array[] {
  const frames = Math.floor(bytes.length / (2 * channels));
  const out = Array.from({ length: channels }, () => new Int16Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) out[c][i] = bytes.readInt16LE((i * channels + c) * 2);
  }
  return out;
}

export function pcmToLittleEndian(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], 2 * i);
  return out;
}
