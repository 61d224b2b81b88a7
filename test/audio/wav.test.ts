import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pcmToMulaw } from '../../src/audio/g711.js';
import { wavToMulaw8k, wavToPcm8k } from '../../src/audio/phone-audio.js';
import { decodeWav, downmix, encodeWavPcm16, WavFormatError } from '../../src/audio/wav.js';

/** A WAV with the given format tag, bits and raw data (what other tools write). */
function wavBytes(
  format: number,
  channels: number,
  rate: number,
  bits: number,
  data: Uint8Array,
  extensible = false,
) {
  const fmtSize = extensible ? 40 : 16;
  const out = Buffer.alloc(12 + 8 + fmtSize + 8 + data.length + (data.length & 1));
  out.write('RIFF', 0);
  out.writeUInt32LE(out.length - 8, 4);
  out.write('WAVE', 8);
  out.write('fmt ', 12);
  out.writeUInt32LE(fmtSize, 16);
  out.writeUInt16LE(extensible ? 0xfffe : format, 20);
  out.writeUInt16LE(channels, 22);
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE((rate * channels * bits) / 8, 28);
  out.writeUInt16LE((channels * bits) / 8, 32);
  out.writeUInt16LE(bits, 34);
  if (extensible) {
    out.writeUInt16LE(22, 36);
    out.writeUInt16LE(format, 44); // first two bytes of the sub-format GUID
  }
  const dataAt = 20 + fmtSize;
  out.write('data', dataAt);
  out.writeUInt32LE(data.length, dataAt + 4);
  out.set(data, dataAt + 8);
  return new Uint8Array(out);
}

describe('WAV reading', () => {
  it('round-trips 16-bit PCM, stereo, exactly', () => {
    const left = Int16Array.of(0, 1, -1, 32767, -32768);
    const right = Int16Array.of(5, 4, 3, 2, 1);
    const audio = decodeWav(encodeWavPcm16(22050, [left, right]));
    expect(audio.sampleRate).toBe(22050);
    expect([...audio.channels[0]]).toEqual([...left]);
    expect([...audio.channels[1]]).toEqual([...right]);
    expect([...downmix(audio)]).toEqual([2.5, 2.5, 1, 16384.5, -16383.5]);
  });

  it('reads 8-bit unsigned, 24-bit and 32-bit PCM, float, μ-law and A-law into 16-bit units', () => {
    const cases: [string, Uint8Array, number[]][] = [
      ['8-bit', wavBytes(1, 1, 8000, 8, Uint8Array.of(128, 255, 0)), [0, 32512, -32768]],
      [
        '24-bit',
        wavBytes(1, 1, 8000, 24, Uint8Array.of(0x00, 0x00, 0x40, 0x00, 0x00, 0xc0)),
        [16384, -16384],
      ],
      [
        '32-bit',
        wavBytes(1, 1, 8000, 32, new Uint8Array(Int32Array.of(1 << 30, -(1 << 30)).buffer)),
        [16384, -16384],
      ],
      ['float32', wavBytes(3, 1, 8000, 32, new Uint8Array(Float32Array.of(0.5, -1).buffer)), [16384, -32768]],
      ['μ-law', wavBytes(7, 1, 8000, 8, Uint8Array.of(0xff, 0x80, 0x00)), [0, 32124, -32124]],
      ['A-law', wavBytes(6, 1, 8000, 8, Uint8Array.of(0xd5, 0xaa)), [8, 32256]],
      [
        'extensible PCM',
        wavBytes(1, 1, 8000, 16, new Uint8Array(Int16Array.of(-7, 7).buffer), true),
        [-7, 7],
      ],
    ];
    for (const [name, bytes, expected] of cases) {
      expect([...decodeWav(bytes).channels[0]], name).toEqual(expected);
    }
  });

  it('rejects what it cannot read with a WavFormatError that says why', () => {
    expect(() => decodeWav(new TextEncoder().encode('not a wav at all'))).toThrow(/not a RIFF\/WAVE/);
    expect(() => decodeWav(wavBytes(0x55, 1, 8000, 16, new Uint8Array(4)))).toThrow(WavFormatError);
    expect(() => decodeWav(wavBytes(0x55, 1, 8000, 16, new Uint8Array(4)))).toThrow(/format 85/);
  });
});

describe('WAV to phone audio', () => {
  it('passes 8 kHz 16-bit mono through untouched (μ-law of exactly the file samples)', () => {
    const bytes = readFileSync(new URL('../../media/demo/greeting.caller.wav', import.meta.url));
    const samples = Int16Array.from(decodeWav(bytes).channels[0]);
    expect([...wavToPcm8k(bytes)]).toEqual([...samples]);
    expect(Buffer.from(wavToMulaw8k(bytes))).toEqual(Buffer.from(pcmToMulaw(samples)));
  });

  it('converts other rates and channel counts to 8 kHz mono of the same duration', () => {
    const stereo44k = encodeWavPcm16(44100, [new Int16Array(44100), new Int16Array(44100)]);
    expect(wavToMulaw8k(stereo44k).length).toBe(8000);
  });
});
