import { describe, expect, it } from 'vitest';
import { StreamResampler } from '../../src/audio/stream-resampler.js';
import { amplitudeAt, db } from '../helpers/signal.js';

const tone = (rate: number, freq: number, seconds = 1, amplitude = 10_000) =>
  Int16Array.from({ length: rate * seconds }, (_, n) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * freq * n) / rate)),
  );

describe('StreamResampler (live legs at AudioSocket rates → 16 kHz)', () => {
  for (const from of [12_000, 24_000, 32_000, 44_100, 48_000, 96_000, 192_000]) {
    it(`${from} Hz: every 20 ms chunk gives exactly 320 samples, and a 1 kHz tone keeps its level`, () => {
      const resampler = new StreamResampler(from, 16_000);
      const input = tone(from, 1000);
      const chunk = from / 50;
      const out: Int16Array[] = [];
      for (let at = 0; at < input.length; at += chunk)
        out.push(resampler.push(input.subarray(at, at + chunk)));
      expect(out.every((o) => o.length === 320)).toBe(true);
      const joined = Int16Array.from(out.flatMap((o) => [...o]));
      expect(Math.abs(db(amplitudeAt(joined, 16_000, 1000, 800, 15_000) / 10_000))).toBeLessThan(0.1);
    });
  }

  it('gives the same samples whether fed at once or in odd-sized pieces', () => {
    const input = tone(44_100, 700, 0.5);
    const whole = new StreamResampler(44_100, 16_000).push(input);
    const pieces = new StreamResampler(44_100, 16_000);
    const parts: number[] = [];
    for (let at = 0, size = 1; at < input.length; at += size, size = (size * 7 + 3) % 997) {
      parts.push(...pieces.push(input.subarray(at, at + size)));
    }
    expect(Int16Array.from(parts)).toEqual(whole);
  });

  it('removes what lies above 8 kHz instead of folding it back (≥ 60 dB)', () => {
    // 11 kHz at 48 kHz would alias to 5 kHz at 16 kHz.
    const out = new StreamResampler(48_000, 16_000).push(tone(48_000, 11_000));
    expect(db(amplitudeAt(out, 16_000, 5000, 800, 15_000) / 10_000)).toBeLessThan(-60);
  });

  it('delays the signal by its half span and no more (a click lands where the delay says)', () => {
    const resampler = new StreamResampler(48_000, 16_000);
    const click = new Int16Array(4800);
    click[1200] = 30_000; // 25 ms in
    const out = resampler.push(click);
    let peak = 0;
    for (let i = 1; i < out.length; i++) if (Math.abs(out[i]) > Math.abs(out[peak])) peak = i;
    const expectedMs = 25 + (resampler.delaySamples / 48_000) * 1000;
    expect(Math.abs(peak / 16 - expectedMs)).toBeLessThan(0.1);
  });
});
