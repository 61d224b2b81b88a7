/**
 * The half-band low-pass filter behind the 8 kHz ⇄ 16 kHz converters.
 *
 * A half-band filter (cut-off at a quarter of the 16 kHz rate, i.e. 4 kHz) has every other tap equal
 * to zero except the centre one, which is what makes 2× conversion cheap: on upsampling, one output
 * phase is the input sample itself and the other is a 32-tap symmetric FIR (16 multiplies).
 *
 * Design: 63-tap windowed sinc, Kaiser window β = 7.5 (HALF_TAPS = 32 non-zero taps beside the centre).
 * Measured response (test/audio/{upsampler,downsampler}.test.ts, sine sweeps through the converters):
 *   passband 0–3.4 kHz flat within ±0.01 dB; stopband 4.6–8 kHz at or below −68 dB,
 *   so the image of a 3.4 kHz tone (at 4.6 kHz) is rejected by at least 68 dB.
 * Linear phase, delay 31 samples at 16 kHz (1.9375 ms), identical on every leg so legs stay aligned.
 */

/** Number of non-zero taps in the filtering phase. The converters are unrolled for exactly this. */
export const HALF_TAPS = 32;
/** Group delay of either converter, in 16 kHz samples. */
export const HALFBAND_DELAY_16K = HALF_TAPS - 1;
export const HALFBAND_DELAY_MS = HALFBAND_DELAY_16K / 16;

const KAISER_BETA = 7.5;

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

/**
 * The 32 taps of the filtering phase, normalised to sum to exactly 1 so DC passes unchanged.
 * Tap i sits at offset (2i − 31) from the centre, in 16 kHz samples.
 */
export function designHalfbandPhase(): Float64Array {
  const centre = HALF_TAPS - 1;
  const halfWidth = centre + 1;
  const taps = new Float64Array(HALF_TAPS);
  let sum = 0;
  for (let i = 0; i < HALF_TAPS; i++) {
    const offset = 2 * i - centre;
    const sinc = Math.sin((Math.PI * offset) / 2) / ((Math.PI * offset) / 2);
    const r = offset / halfWidth;
    const window = besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / besselI0(KAISER_BETA);
    taps[i] = sinc * window;
    sum += taps[i];
  }
  for (let i = 0; i < HALF_TAPS; i++) taps[i] /= sum;
  return taps;
}

/** Fixed-point scale of the integer taps: Q14. */
export const TAP_SHIFT = 14;

/**
 * The same 32 taps in Q14 fixed point, rounded so they sum to exactly 2^14 (unity DC gain).
 * Why integers: with Int16 samples every partial sum of the FIR stays below 2^31
 * (Σ|taps| · 65536/2 · 2^14 ≈ 1.3·10^9), so V8 runs the filter in int32 arithmetic, about twice
 * as fast as in doubles. Rounding the taps to 1/16384 leaves a quantisation floor near −85 dB,
 * far under the −60 dB the images must reach.
 */
export function designHalfbandPhaseQ14(): Int32Array {
  const taps = designHalfbandPhase();
  const q = Int32Array.from(taps, (v) => Math.round(v * (1 << TAP_SHIFT)));
  // Put the rounding residue on the centre pair (largest taps), keeping the filter symmetric.
  let residue = 1 << TAP_SHIFT;
  for (const v of q) residue -= v;
  const centre = HALF_TAPS / 2;
  q[centre - 1] += Math.trunc(residue / 2);
  q[centre] += residue - Math.trunc(residue / 2);
  return q;
}
