import { alawToPcm, mulawToPcm } from './g711.js';

/** Decoded WAV audio: one array per channel, in 16-bit sample units (−32768…32767) as floats. */
export interface WavAudio {
  readonly sampleRate: number;
  readonly channels: Float64Array[];
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

export class WavFormatError extends Error {
  override readonly name = 'WavFormatError';
}

/** Reads PCM (8/16/24/32-bit), IEEE float (32/64-bit), μ-law and A-law WAV files, any rate. */
export function decodeWav(bytes: Uint8Array): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE')
    throw new WavFormatError('not a RIFF/WAVE file');

  let format = -1;
  let channelCount = 0;
  let sampleRate = 0;
  let bits = 0;
  let data: Uint8Array | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = bytes.subarray(at + 8, Math.min(at + 8 + size, bytes.length));
    if (id === 'fmt ') {
      if (body.length < 16) throw new WavFormatError('fmt chunk too short');
      const fmt = new DataView(body.buffer, body.byteOffset, body.byteLength);
      format = fmt.getUint16(0, true);
      channelCount = fmt.getUint16(2, true);
      sampleRate = fmt.getUint32(4, true);
      bits = fmt.getUint16(14, true);
      // WAVE_FORMAT_EXTENSIBLE carries the real format in the first two bytes of its sub-format GUID.
      if (format === FORMAT_EXTENSIBLE && body.length >= 26) format = fmt.getUint16(24, true);
    } else if (id === 'data') {
      data = body;
    }
    at += 8 + size + (size & 1); // chunks are padded to even sizes
  }
  if (format < 0) throw new WavFormatError('no fmt chunk');
  if (!data) throw new WavFormatError('no data chunk');
  if (channelCount < 1 || sampleRate < 1) throw new WavFormatError('invalid channel count or sample rate');

  const bytesPerSample = bits / 8;
  const frames = Math.floor(data.length / (bytesPerSample * channelCount));
  const channels = Array.from({ length: channelCount }, () => new Float64Array(frames));
  const d = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = sampleReader(format, bits, d, data);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channelCount; c++) channels[c][f] = read((f * channelCount + c) * bytesPerSample);
  }
  return { sampleRate, channels };
}

function sampleReader(
  format: number,
  bits: number,
  d: DataView,
  raw: Uint8Array,
): (offset: number) => number {
  if (format === FORMAT_PCM) {
    if (bits === 8) return (o) => (d.getUint8(o) - 128) * 256;
    if (bits === 16) return (o) => d.getInt16(o, true);
    if (bits === 24)
      return (o) => (d.getUint8(o) | (d.getUint8(o + 1) << 8) | (d.getInt8(o + 2) << 16)) / 256;
    if (bits === 32) return (o) => d.getInt32(o, true) / 65536;
  } else if (format === FORMAT_FLOAT) {
    if (bits === 32) return (o) => d.getFloat32(o, true) * 32768;
    if (bits === 64) return (o) => d.getFloat64(o, true) * 32768;
  } else if (format === FORMAT_MULAW && bits === 8) {
    const pcm = mulawToPcm(raw);
    return (o) => pcm[o];
  } else if (format === FORMAT_ALAW && bits === 8) {
    const pcm = alawToPcm(raw);
    return (o) => pcm[o];
  }
  throw new WavFormatError(`unsupported WAV encoding: format ${format}, ${bits} bits per sample`);
}

/** Averages all channels into one. */
export function downmix(audio: WavAudio): Float64Array {
  const [first, ...rest] = audio.channels;
  if (rest.length === 0) return first;
  const mono = new Float64Array(first.length);
  for (let i = 0; i < mono.length; i++) {
    let sum = first[i];
    for (const channel of rest) sum += channel[i];
    mono[i] = sum / audio.channels.length;
  }
  return mono;
}

/** Writes 16-bit PCM WAV, channels interleaved. */
export function encodeWavPcm16(sampleRate: number, channels: Int16Array[]): Uint8Array {
  const channelCount = channels.length;
  const frames = channels[0]?.length ?? 0;
  const dataBytes = frames * channelCount * 2;
  const out = new Uint8Array(44 + dataBytes);
  const v = new DataView(out.buffer);
  const put = (at: number, s: string) => out.set(Buffer.from(s, 'ascii'), at);
  put(0, 'RIFF');
  v.setUint32(4, 36 + dataBytes, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, FORMAT_PCM, true);
  v.setUint16(22, channelCount, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * channelCount * 2, true);
  v.setUint16(32, channelCount * 2, true);
  v.setUint16(34, 16, true);
  put(36, 'data');
  v.setUint32(40, dataBytes, true);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channelCount; c++) v.setInt16(44 + (f * channelCount + c) * 2, channels[c][f], true);
  }
  return out;
}
