import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { G722Decoder, G722Encoder } from '../../src/audio/g722.js';

/*
 * Exactness against ffmpeg's G.722 (ITU-conformant; its default encoder is the plain ITU one, no
 * trellis). Fixtures (test/fixtures/g722/README.md): speech.g722 is ffmpeg's encoding of real
 * speech at 16 kHz, speech.s16le ffmpeg's decoding of it, reencoded.g722 ffmpeg's encoding of
 * speech.s16le. Proven here: our decoder gives ffmpeg's samples bit for bit, and our encoder
 * gives ffmpeg's bytes bit for bit, in one call and in 20 ms chunks.
 */

const FIXTURES = new URL('../fixtures/g722/', import.meta.url);
const bytes = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));
function pcm(name: string): Int16Array {
  const raw = readFileSync(new URL(name, FIXTURES));
  const out = new Int16Array(raw.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = raw.readInt16LE(2 * i);
  return out;
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const speech = bytes('speech.g722');
const decoded = pcm('speech.s16le');
const reencoded = bytes('reencoded.g722');

describe('G.722 decoder', () => {
  it('decodes ffmpeg’s bitstream to ffmpeg’s samples, bit for bit', () => {
    expect(speech.length).toBeGreaterThan(8000); // over a second of speech
    expect(firstDifference(new G722Decoder().decode(speech), decoded)).toBe(-1);
  });

  it('gives the same samples in 20 ms packets (160 bytes) as in one go, into a caller’s buffer', () => {
    const decoder = new G722Decoder();
    const out = new Int16Array(speech.length * 2);
    const packet = new Int16Array(320);
    for (let at = 0; at < speech.length; at += 160) {
      const part = speech.subarray(at, at + 160);
      out.set(decoder.decode(part, packet.subarray(0, part.length * 2)), at * 2);
    }
    expect(firstDifference(out, decoded)).toBe(-1);
  });

  it('any bytes decode without throwing, two samples per byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (input) => {
        const out = new G722Decoder().decode(input);
        expect(out.length).toBe(2 * input.length);
      }),
    );
  });

  it('refuses an output buffer too short for the input', () => {
    expect(() => new G722Decoder().decode(new Uint8Array(4), new Int16Array(7))).toThrow(RangeError);
  });
});

describe('G.722 encoder', () => {
  it('encodes ffmpeg’s decoded speech to the bytes ffmpeg’s encoder gives, bit for bit', () => {
    expect(firstDifference(new G722Encoder().encode(decoded), reencoded)).toBe(-1);
  });

  it('gives the same bytes whatever the chunking, an odd sample waiting for the next call', () => {
    const encoder = new G722Encoder();
    const parts: Uint8Array[] = [];
    for (let at = 0, n = 0; at < decoded.length; at += 317 + (n++ % 5)) {
      parts.push(encoder.encode(decoded.subarray(at, at + 317 + (n % 5))));
    }
    expect(firstDifference(Buffer.concat(parts), reencoded)).toBe(-1);
  });

  it('round trip: what it encodes decodes back to the input within 20 dB SNR on speech', () => {
    const back = new G722Decoder().decode(new G722Encoder().encode(decoded));
    // The codec pair delays by 22 samples (the two QMFs).
    let signal = 0;
    let noise = 0;
    for (let i = 0; i + 22 < decoded.length; i++) {
      signal += decoded[i] ** 2;
      noise += (decoded[i] - back[i + 22]) ** 2;
    }
    expect(10 * Math.log10(signal / noise)).toBeGreaterThan(20);
  });
});
