/**
 * ITU-T G.711 μ-law and A-law, bit-exact with the ITU-T G.191 reference implementation
 * (ulaw_expand/ulaw_compress, alaw_expand/alaw_compress). Pure functions over lookup tables:
 * decoding is one load per sample, encoding one load per sample from a 64 KiB table.
 */

/** μ-law byte for digital silence (decodes to 0). Twilio pads with it. */
export const MULAW_SILENCE = 0xff;
/** A-law byte closest to 0 (decodes to +8). */
export const ALAW_SILENCE = 0xd5;

function expandMulaw(code: number): number {
  // Bits are stored inverted; the 0x84 bias (132) makes every segment start on a power of two.
  const inverted = ~code & 0xff;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return inverted & 0x80 ? -magnitude : magnitude;
}

function compressMulaw(sample: number): number {
  // G.191 takes the one's complement of negative input (not the negation), then drops 2 LSBs.
  let magnitude = ((sample < 0 ? ~sample : sample) >> 2) + 33;
  if (magnitude > 0x1fff) magnitude = 0x1fff;
  let segment = 1;
  for (let rest = magnitude >> 6; rest !== 0; rest >>= 1) segment++;
  const high = 8 - segment;
  const low = 0x0f - ((magnitude >> segment) & 0x0f);
  const code = (high << 4) | low;
  return sample >= 0 ? code | 0x80 : code;
}

function expandAlaw(code: number): number {
  const toggled = (code ^ 0x55) & 0x7f;
  const exponent = toggled >> 4;
  let mantissa = toggled & 0x0f;
  if (exponent > 0) mantissa += 16;
  mantissa = (mantissa << 4) + 8;
  if (exponent > 1) mantissa <<= exponent - 1;
  return code > 127 ? mantissa : -mantissa;
}

function compressAlaw(sample: number): number {
  let value = (sample < 0 ? ~sample : sample) >> 4;
  if (value > 15) {
    let exponent = 1;
    while (value > 31) {
      value >>= 1;
      exponent++;
    }
    value = value - 16 + (exponent << 4);
  }
  if (sample >= 0) value |= 0x80;
  return value ^ 0x55;
}

function decodeTable(expand: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = expand(code);
  return table;
}

/** Indexed by the sample's 16-bit two's-complement pattern (`sample & 0xffff`). */
function encodeTable(compress: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let sample = -32768; sample < 32768; sample++) table[sample & 0xffff] = compress(sample);
  return table;
}

const MULAW_DECODE = decodeTable(expandMulaw);
const ALAW_DECODE = decodeTable(expandAlaw);
const MULAW_ENCODE = encodeTable(compressMulaw);
const ALAW_ENCODE = encodeTable(compressAlaw);

/** The 256 linear values μ-law codes decode to (read-only view for other codecs). */
export const MULAW_DECODE_TABLE: Readonly<Int16Array> = MULAW_DECODE;

export function mulawToPcm(src: Uint8Array, dst: Int16Array = new Int16Array(src.length)): Int16Array {
  for (let i = 0; i < src.length; i++) dst[i] = MULAW_DECODE[src[i]];
  return dst;
}

export function pcmToMulaw(src: Int16Array, dst: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  for (let i = 0; i < src.length; i++) dst[i] = MULAW_ENCODE[src[i] & 0xffff];
  return dst;
}

export function alawToPcm(src: Uint8Array, dst: Int16Array = new Int16Array(src.length)): Int16Array {
  for (let i = 0; i < src.length; i++) dst[i] = ALAW_DECODE[src[i]];
  return dst;
}

export function pcmToAlaw(src: Int16Array, dst: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  for (let i = 0; i < src.length; i++) dst[i] = ALAW_ENCODE[src[i] & 0xffff];
  return dst;
}
