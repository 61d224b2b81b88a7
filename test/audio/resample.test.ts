import { describe, expect, it } from 'vitest';
import { resample, toInt16 } from '../../src/audio/resample.js';
import { amplitudeAt, db } from '../helpers/signal.js';

const tone = (rate: number, freq: number, seconds = 1, amplitude = 10_000) =>
  Float64Array.from(
    { length: rate * seconds },
    (_, n) => amplitude * Math.sin((2 * Math.PI * freq * n) / rate),
  );

describe('resample (one-shot, any rates)', () => {
  for (const from of [11025, 16000, 22050, 44100, 48000]) {
    it(`${from} Hz → 8 kHz keeps a 1 kHz tone within 0.1 dB and its length`, () => {
      const out = resample(tone(from, 1000), from, 8000);
      expect(out.length).toBe(8000);
      expect(Math.abs(db(amplitudeAt(out, 8000, 1000, 200, 7800) / 10_000))).toBeLessThan(0.1);
    });
  }

  it('removes content above the new Nyquist frequency instead of folding it back (≥ 60 dB)', () => {
    // 6 kHz at 22.05 kHz would alias to 2 kHz at 8 kHz.
    const out = resample(tone(22050, 6000), 22050, 8000);
    expect(db(amplitudeAt(out, 8000, 2000, 200, 7800) / 10_000)).toBeLessThan(-60);
  });

  it('upsamples too: 8 kHz → 16 kHz keeps the tone and adds no image above 4 kHz', () => {
    const out = resample(tone(8000, 1500), 8000, 16000);
    expect(Math.abs(db(amplitudeAt(out, 16000, 1500, 400, 15600) / 10_000))).toBeLessThan(0.1);
    expect(db(amplitudeAt(out, 16000, 6500, 400, 15600) / 10_000)).toBeLessThan(-60);
  });

  it('returns a copy, unchanged, when the rates match', () => {
    const input = tone(8000, 440, 0.01);
    const out = resample(input, 8000, 8000);
    expect(out).not.toBe(input);
    expect([...out]).toEqual([...input]);
  });

  it('rejects rates that are not positive integers', () => {
    expect(() => resample(new Float64Array(10), 0, 8000)).toThrow(/positive integers/);
    expect(() => resample(new Float64Array(10), 8000.5, 8000)).toThrow(/positive integers/);
  });

  it('toInt16 rounds and clips', () => {
    expect([...toInt16(Float64Array.of(0.4, 0.6, -0.6, 40000, -40000))]).toEqual([0, 1, -1, 32767, -32768]);
  });
});
