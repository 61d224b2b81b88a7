/** Test-signal helpers: sines, and the amplitude of one frequency in a signal. */

export function sine(samples: number, rateHz: number, freqHz: number, amplitude: number): Int16Array {
  const out = new Int16Array(samples);
  for (let n = 0; n < samples; n++)
    out[n] = Math.round(amplitude * Math.sin((2 * Math.PI * freqHz * n) / rateHz));
  return out;
}

/**
 * Amplitude of the `freqHz` component, from a Hann-weighted projection over `from`…`to`
 * (skip the converter's start-up transient). Leakage from components ≥ 100 Hz away over a
 * one-second window is far below −100 dB, so tones near each other can be told apart.
 */
export function amplitudeAt(
  signal: ArrayLike<number>,
  rateHz: number,
  freqHz: number,
  from = 0,
  to = signal.length,
): number {
  let re = 0;
  let im = 0;
  let weights = 0;
  const length = to - from;
  for (let n = from; n < to; n++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * (n - from)) / (length - 1));
    const phase = (2 * Math.PI * freqHz * n) / rateHz;
    re += w * signal[n] * Math.cos(phase);
    im += w * signal[n] * Math.sin(phase);
    weights += w;
  }
  return (2 * Math.hypot(re, im)) / weights;
}

export const db = (ratio: number) => 20 * Math.log10(ratio);

/**
 * Index of the first sample where two signals differ, or -1 when they are identical (length
 * included). Cheaper than deep equality on large arrays, and a failure says where.
 */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
