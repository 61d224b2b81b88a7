import { describe, expect, it } from 'vitest';
import { DOWNSAMPLER_DELAY_16K, Downsampler16to8 } from '../../src/audio/downsampler.js';
import { mulawToPcm } from '../../src/audio/g711.js';
import { amplitudeAt, db, sine } from '../helpers/signal.js';

const AMPLITUDE = 10_000;

describe('Downsampler16to8 (audio voxline sends into calls)', () => {
  it('passes 100 Hz – 3.4 kHz flat within ±0.01 dB', () => {
    let worst = 0;
    for (let freq = 100; freq <= 3400; freq += 100) {
      const out = new Downsampler16to8().pushPcm(sine(16000, 16000, freq, AMPLITUDE));
      const gainDb = db(amplitudeAt(out, 8000, freq, 64) / AMPLITUDE);
      worst = Math.max(worst, Math.abs(gainDb));
    }
    expect(worst).toBeLessThan(0.01);
  });

  it('suppresses everything from 4.6 kHz to 8 kHz by at least 68 dB instead of aliasing it', () => {
    let worst = -Infinity;
    for (let freq = 4600; freq < 8000; freq += 200) {
      const out = new Downsampler16to8().pushPcm(sine(16000, 16000, freq, AMPLITUDE));
      worst = Math.max(worst, db(amplitudeAt(out, 8000, 8000 - freq, 64) / AMPLITUDE));
    }
    expect(worst).toBeLessThan(-68);
  });

  it('gives the one-shot output for any chunking, carrying odd leftover samples', () => {
    const input = sine(4801, 16000, 1234, AMPLITUDE);
    const oneShot = new Downsampler16to8().pushPcm(input);
    const streaming = new Downsampler16to8();
    const parts: number[] = [];
    for (let at = 0, size = 1; at < input.length; at += size, size = (size * 7) % 331 || 1) {
      parts.push(...streaming.pushPcm(input.subarray(at, at + size)));
    }
    expect(parts).toEqual([...oneShot]);
  });

  it('has the documented delay: an impulse at input 40 peaks at output (40 + 30) / 2', () => {
    const impulse = new Int16Array(200);
    impulse[40] = 16384;
    const out = new Downsampler16to8().pushPcm(impulse);
    expect(out.indexOf(Math.max(...out))).toBe((40 + DOWNSAMPLER_DELAY_16K) / 2);
  });

  it('produces μ-law that decodes to the downsampled PCM within one quantization step', () => {
    const input = sine(3200, 16000, 440, AMPLITUDE);
    const reference = new Downsampler16to8().pushPcm(input);
    const decoded = mulawToPcm(new Downsampler16to8().pushPcmToMulaw(input));
    // A μ-law step is 8 near zero and at most about 6 % of the value further out.
    const outOfStep = reference.findIndex(
      (v, i) => Math.abs(v - decoded[i]) > Math.max(16, 0.07 * Math.abs(v)),
    );
    expect(decoded.length).toBe(1600);
    expect(outOfStep).toBe(-1);
  });
});
