import { describe, expect, it } from 'vitest';
import { mulawToPcm, pcmToMulaw } from '../../src/audio/g711.js';
import {
  designHalfbandPhase,
  designHalfbandPhaseQ14,
  HALFBAND_DELAY_16K,
  TAP_SHIFT,
} from '../../src/audio/halfband.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import { amplitudeAt, db, firstDifference, sine } from '../helpers/signal.js';

const ONE_SECOND = 8000;
const AMPLITUDE = 10_000;

const concat = (parts: Int16Array[]) => Int16Array.from(parts.flatMap((p) => [...p]));

function upsample(pcm: Int16Array): Int16Array {
  return new Upsampler8to16().pushPcm(pcm);
}

// Required: flat within 0.1 dB to 3.4 kHz, images 60 dB down. The design does better, and the
// docs/audio.md and halfband.ts promise what is asserted here: ±0.01 dB and 68 dB.
describe('Upsampler8to16: frequency response (sine sweeps, 1 s each)', () => {
  const settle = 2 * HALFBAND_DELAY_16K; // skip the start-up transient

  it('passes 100 Hz – 3.4 kHz flat within ±0.01 dB', () => {
    const worst = { freq: 0, gainDb: 0 };
    for (let freq = 100; freq <= 3400; freq += 100) {
      const out = upsample(sine(ONE_SECOND, 8000, freq, AMPLITUDE));
      const gainDb = db(amplitudeAt(out, 16000, freq, settle) / AMPLITUDE);
      if (Math.abs(gainDb) > Math.abs(worst.gainDb)) Object.assign(worst, { freq, gainDb });
    }
    expect(Math.abs(worst.gainDb), `worst at ${worst.freq} Hz`).toBeLessThan(0.01);
  });

  it('rejects the image (8 kHz − f) of every tone up to 3.4 kHz by at least 68 dB', () => {
    const worst = { freq: 0, rejectionDb: -Infinity };
    for (let freq = 100; freq <= 3400; freq += 100) {
      const out = upsample(sine(ONE_SECOND, 8000, freq, AMPLITUDE));
      const image = amplitudeAt(out, 16000, 8000 - freq, settle);
      const wanted = amplitudeAt(out, 16000, freq, settle);
      const rejectionDb = db(image / wanted);
      if (rejectionDb > worst.rejectionDb) Object.assign(worst, { freq, rejectionDb });
    }
    expect(worst.rejectionDb, `worst at ${worst.freq} Hz`).toBeLessThan(-68);
  });

  it('delays the signal by 31 samples at 16 kHz (1.9375 ms), as documented', () => {
    const impulse = new Int16Array(64);
    impulse[10] = 16384;
    const out = upsample(impulse);
    const peak = out.indexOf(Math.max(...out));
    expect(peak).toBe(2 * 10 + HALFBAND_DELAY_16K);
  });
});

describe('Upsampler8to16: streaming', () => {
  const speechLike = (() => {
    const pcm = new Int16Array(3 * ONE_SECOND);
    for (let n = 0; n < pcm.length; n++) {
      pcm[n] = Math.round(
        6000 * Math.sin(n * 0.07) +
          4000 * Math.sin(n * 0.61 + 1) +
          3000 * Math.sin(n * 1.9) * Math.sin(n * 0.003),
      );
    }
    return pcm;
  })();

  it('gives exactly the one-shot output when fed in 20 ms chunks', () => {
    const oneShot = upsample(speechLike);
    const streaming = new Upsampler8to16();
    const chunks: Int16Array[] = [];
    for (let at = 0; at < speechLike.length; at += 160)
      chunks.push(streaming.pushPcm(speechLike.subarray(at, at + 160)));
    expect(firstDifference(concat(chunks), oneShot)).toBe(-1);
  });

  it('gives exactly the one-shot output for odd chunk sizes, including 1 sample and larger than its buffer', () => {
    const oneShot = upsample(speechLike);
    const streaming = new Upsampler8to16();
    const parts: Int16Array[] = [];
    const sizes = [1, 7, 160, 3, 2000, 1, 333];
    for (let at = 0, i = 0; at < speechLike.length; i++) {
      const size = sizes[i % sizes.length];
      parts.push(streaming.pushPcm(speechLike.subarray(at, at + size)));
      at += size;
    }
    expect(firstDifference(concat(parts), oneShot)).toBe(-1);
  });

  it('decodes μ-law on the way in exactly as decode-then-upsample does', () => {
    const mulaw = pcmToMulaw(speechLike);
    const viaPcm = upsample(mulawToPcm(mulaw));
    const streaming = new Upsampler8to16();
    const parts: Int16Array[] = [];
    for (let at = 0; at < mulaw.length; at += 160)
      parts.push(streaming.pushMulaw(mulaw.subarray(at, at + 160)));
    expect(firstDifference(concat(parts), viaPcm)).toBe(-1);
  });

  it('passes every input sample through unchanged on the odd outputs (no added noise)', () => {
    const out = upsample(speechLike);
    const shift = (HALFBAND_DELAY_16K - 1) / 2; // 15 input samples
    for (const n of [100, 1234, 9999, 23_000]) expect(out[2 * n + 1]).toBe(speechLike[n - shift]);
  });

  it('treats pushSilence like pushing zeros, keeping its history', () => {
    const a = new Upsampler8to16();
    const b = new Upsampler8to16();
    const head = speechLike.subarray(0, 160);
    a.pushPcm(head);
    b.pushPcm(head);
    expect([...a.pushSilence(160)]).toEqual([...b.pushPcm(new Int16Array(160))]);
  });

  it('uses Q14 taps summing to exactly 1.0 (the unrolled loop hard-codes the shift of 14)', () => {
    const q = designHalfbandPhaseQ14();
    expect(TAP_SHIFT).toBe(14);
    expect(q.reduce((a, b) => a + b, 0)).toBe(1 << 14);
    expect([...q]).toEqual([...q].reverse()); // still symmetric (linear phase)
  });

  it('stays exact at the worst case for its int32 arithmetic: full scale with every tap pushing one way', () => {
    // Each output sums tap × sample over 32 taps; choosing every sample's sign to match its tap
    // maximises the sum, and it must still come out as the float result, clipped, not wrapped.
    const taps = designHalfbandPhase();
    const x = new Int16Array(200);
    const n = 150; // output 2n uses x[n − i] with tap i
    for (let i = 0; i < 32; i++) x[n - i] = taps[i] >= 0 ? 32767 : -32768;
    const out = upsample(x);
    let exact = 0;
    for (let i = 0; i < 32; i++) exact += taps[i] * x[n - i];
    expect(exact).toBeGreaterThan(32767);
    expect(out[2 * n]).toBe(32767);
    for (let i = 0; i < 32; i++) x[n - i] = -x[n - i] - (x[n - i] < 0 ? 1 : 0);
    expect(upsample(x)[2 * n]).toBe(-32768);
  });

  it('clips instead of wrapping around on full-scale square waves', () => {
    const square = Int16Array.from({ length: 800 }, (_, n) => (Math.floor(n / 4) % 2 ? 32767 : -32768));
    const out = upsample(square);
    expect(Math.max(...out)).toBe(32767);
    expect(Math.min(...out)).toBe(-32768);
  });
});
