/** Just enough of a WAV file to draw it: voxline's recordings are PCM16 or G.711 μ-law, one channel per leg. */

export interface WavInfo {
  readonly format: 'pcm16' | 'mulaw';
  readonly channels: number;
  readonly sampleRate: number;
  /** Sample frames (one sample per channel). */
  readonly frames: number;
  readonly durationMs: number;
  /** Sample `i` of `channel`, as −1…1. */
  sample(channel: number, i: number): number;
}

export class WavError extends Error {}

export function parseWav(bytes: ArrayBuffer): WavInfo {
  const view = new DataView(bytes);
  const tag = (at: number) => String.fromCharCode(...new Uint8Array(bytes, at, 4));
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new WavError('not a WAV file');
  let at = 12;
  let fmt: { code: number; channels: number; rate: number; bits: number } | undefined;
  while (at + 8 <= bytes.byteLength) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ' && size >= 16) {
      let code = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
      if (code === 0xfffe && size >= 26) code = view.getUint16(body + 24, true);
      fmt = {
        code,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new WavError('data before fmt');
      // A recording still being written (or cut short) says more than it holds: read what is there.
      const length = Math.min(size, bytes.byteLength - body);
      return describe(fmt, new DataView(bytes, body, length));
    }
    at = body + size + (size % 2);
  }
  throw new WavError('no audio in the file');
}

function describe(
  fmt: { code: number; channels: number; rate: number; bits: number },
  data: DataView,
): WavInfo {
  const { code, channels, rate, bits } = fmt;
  if (channels < 1 || rate < 1) throw new WavError('bad header');
  if (code === 1 && bits === 16) {
    const frames = Math.floor(data.byteLength / (2 * channels));
    return {
      format: 'pcm16',
      channels,
      sampleRate: rate,
      frames,
      durationMs: (frames * 1000) / rate,
      sample: (c, i) => data.getInt16((i * channels + c) * 2, true) / 32768,
    };
  }
  if (code === 7 && bits === 8) {
    const frames = Math.floor(data.byteLength / channels);
    return {
      format: 'mulaw',
      channels,
      sampleRate: rate,
      frames,
      durationMs: (frames * 1000) / rate,
      sample: (c, i) => MULAW[data.getUint8(i * channels + c)],
    };
  }
  throw new WavError(`unsupported WAV format ${code}/${bits} bits`);
}

/** G.711 μ-law decoded to −1…1 (ITU-T G.711 table). */
const MULAW = Float32Array.from({ length: 256 }, (_, byte) => {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return ((u & 0x80 ? 0x84 - t : t - 0x84) / 32768) as number;
});

/** The loudest sample of each of `buckets` equal slices of a channel: what a waveform draws. */
export function peaks(wav: WavInfo, channel: number, buckets: number): Float32Array {
  const out = new Float32Array(buckets);
  if (wav.frames === 0 || buckets <= 0) return out;
  const per = wav.frames / buckets;
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor(b * per);
    const to = Math.min(wav.frames, Math.max(from + 1, Math.floor((b + 1) * per)));
    // Long recordings: look at up to 400 samples per bucket, evenly spread; peaks, not every sample.
    const step = Math.max(1, Math.floor((to - from) / 400));
    let max = 0;
    for (let i = from; i < to; i += step) max = Math.max(max, Math.abs(wav.sample(channel, i)));
    out[b] = max;
  }
  return out;
}
