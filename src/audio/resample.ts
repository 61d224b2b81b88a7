/**
 * One-shot rational resampler (polyphase Kaiser-windowed sinc) for whole signals at any pair of
 * rates, e.g. a 22.05 kHz or 44.1 kHz WAV file to 8 kHz for the call simulator. Not for live
 * audio: the live path uses the streaming converters (upsampler.ts, downsampler.ts, stream-resampler.ts).
 *
 * The low-pass sits at 92 % of the lower Nyquist frequency (3.68 kHz when the output is 8 kHz),
 * 32 zero crossings each side, Kaiser β = 8; every phase is normalised to unit DC gain.
 */

const ZERO_CROSSINGS = 32;
const KAISER_BETA = 8;
const ROLLOFF = 0.92;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 64; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

/** A polyphase low-pass for `fromHz` → `toHz`: `up` phases of `width` taps each, unit DC gain. */
export interface PolyphaseKernel {
  readonly up: number;
  readonly down: number;
  /** Input samples each side of an output instant. */
  readonly halfSpan: number;
  readonly width: number;
  /** Phase p (an output instant p/up of an input sample past an integer) at p × width. */
  readonly taps: Float64Array;
}

export function designPolyphase(fromHz: number, toHz: number): PolyphaseKernel {
  if (!Number.isInteger(fromHz) || !Number.isInteger(toHz) || fromHz <= 0 || toHz <= 0) {
    throw new RangeError(`sample rates must be positive integers (got ${fromHz} → ${toHz})`);
  }
  const g = gcd(fromHz, toHz);
  const up = toHz / g;
  const down = fromHz / g;
  // Cut-off as a fraction of the input Nyquist frequency.
  const cutoff = (ROLLOFF * Math.min(fromHz, toHz)) / fromHz;
  const halfSpan = Math.ceil(ZERO_CROSSINGS / cutoff);
  const width = 2 * halfSpan;
  const norm = besselI0(KAISER_BETA);
  const taps = new Float64Array(up * width);
  for (let p = 0; p < up; p++) {
    const frac = p / up;
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const tau = j - halfSpan + 1 - frac; // input sample (base − halfSpan + 1 + j) minus the instant
      const x = Math.PI * cutoff * tau;
      const sinc = x === 0 ? 1 : Math.sin(x) / x;
      const r = tau / halfSpan;
      const w = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / norm;
      taps[p * width + j] = sinc * w;
      sum += sinc * w;
    }
    for (let j = 0; j < width; j++) taps[p * width + j] /= sum;
  }
  return { up, down, halfSpan, width, taps };
}

export function resample(input: Float64Array, fromHz: number, toHz: number): Float64Array {
  const { up, down, halfSpan, width, taps } = designPolyphase(fromHz, toHz);
  if (fromHz === toHz) return Float64Array.from(input);
  const outLength = Math.floor((input.length * up) / down);
  const out = new Float64Array(outLength);
  for (let n = 0; n < outLength; n++) {
    const position = n * down;
    const base = Math.floor(position / up);
    const offset = (position % up) * width;
    const first = base - halfSpan + 1;
    let acc = 0;
    for (let j = 0; j < width; j++) {
      const i = first + j;
      if (i >= 0 && i < input.length) acc += taps[offset + j] * input[i];
    }
    out[n] = acc;
  }
  return out;
}

/** Rounds and clamps float samples in 16-bit units to Int16. */
export function toInt16(samples: Float64Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i])));
  }
  return out;
}
