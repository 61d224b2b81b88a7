/**
 * G.722's sub-band ADPCM core, shared by the decoder and the encoder (g722.ts): the
 * Recommendation's tables, the QMF coefficients and one band's predictor and scale factor.
 */

/** QMF coefficients h(0)…h(23) are symmetric; these are h(2i), i = 0…11 (h(2i+1) = h(22−2i)). */
export const QMF_EVEN = Int32Array.of(3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11);
export const QMF_ODD = Int32Array.of(-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3);

/** QUANTL decision levels Q6(1)…Q6(29), in units of DETL/4096. */
export const Q6 = Int32Array.of(
  35,
  72,
  110,
  150,
  190,
  233,
  276,
  323,
  370,
  422,
  473,
  530,
  587,
  650,
  714,
  786,
  858,
  940,
  1023,
  1121,
  1219,
  1339,
  1458,
  1612,
  1765,
  1980,
  2195,
  2557,
  2919,
);

/** INVQAL with the 6-bit code (the decoder's output in mode 1). */
export const QM6 = Int32Array.of(
  -136,
  -136,
  -136,
  -136,
  -24808,
  -21904,
  -19008,
  -16704,
  -14984,
  -13512,
  -12280,
  -11192,
  -10232,
  -9360,
  -8576,
  -7856,
  -7192,
  -6576,
  -6000,
  -5456,
  -4944,
  -4464,
  -4008,
  -3576,
  -3168,
  -2776,
  -2400,
  -2032,
  -1688,
  -1360,
  -1040,
  -728,
  24808,
  21904,
  19008,
  16704,
  14984,
  13512,
  12280,
  11192,
  10232,
  9360,
  8576,
  7856,
  7192,
  6576,
  6000,
  5456,
  4944,
  4464,
  4008,
  3576,
  3168,
  2776,
  2400,
  2032,
  1688,
  1360,
  1040,
  728,
  432,
  136,
  -432,
  -136,
);
/** INVQAL with the code's 4 most significant bits (the predictor, in every mode). */
export const QM4 = Int32Array.of(
  0,
  -20456,
  -12896,
  -8968,
  -6288,
  -4240,
  -2584,
  -1200,
  20456,
  12896,
  8968,
  6288,
  4240,
  2584,
  1200,
  0,
);
/** LOGSCL: WL by the 4-bit code (RIL4 through RIL4 → IL4 folded in). */
export const WL = Int32Array.of(
  -60,
  3042,
  1198,
  538,
  334,
  172,
  58,
  -30,
  3042,
  1198,
  538,
  334,
  172,
  58,
  -30,
  -60,
);
/** INVQAH and LOGSCH by the 2-bit code. */
export const QM2 = Int32Array.of(-7408, -1616, 7408, 1616);
export const WH = Int32Array.of(798, -214, 798, -214);
/** SCALEL/SCALEH: ILB, 2048 · 2^(i/32). */
const ILB = Int32Array.of(
  2048,
  2093,
  2139,
  2186,
  2233,
  2282,
  2332,
  2383,
  2435,
  2489,
  2543,
  2599,
  2656,
  2714,
  2774,
  2834,
  2896,
  2960,
  3025,
  3091,
  3158,
  3228,
  3298,
  3371,
  3444,
  3520,
  3597,
  3676,
  3756,
  3838,
  3922,
  4008,
);

export const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
export const int16 = (v: number): number => (v < -32768 ? -32768 : v > 32767 ? 32767 : v);

/** One sub-band's ADPCM state: the adaptive predictor and the quantizer's scale factor. */
export class Band {
  /** Signal estimate S (SPL + SZL) and its zero part SZ. */
  s = 0;
  sz = 0;
  /** Log and linear scale factor (NB, DET). */
  nb = 0;
  det: number;
  a1 = 0;
  a2 = 0;
  /** Signs of the last two partial reconstructions P (true: negative). */
  p1 = false;
  p2 = false;
  /** R(n−1) · 2, saturated (FILTEP works on twice the reconstruction). */
  r1x2 = 0;
  /** Zero-section coefficients B1…B6 and the quantized differences D1…D6 (stored · 2). */
  readonly b = new Int32Array(6);
  readonly dx2 = new Int32Array(6);
  readonly #ilbShift: number;
  readonly #nbMax: number;

  constructor(det: number, ilbShift: number, nbMax: number) {
    this.det = det;
    this.#ilbShift = ilbShift;
    this.#nbMax = nbMax;
  }

  /** LOGSCL/LOGSCH then SCALEL/SCALEH: the next sample's DET from this one's W. */
  adaptScale(w: number): void {
    const nb = clamp(((this.nb * 32512) >> 15) + w, 0, this.#nbMax);
    this.nb = nb;
    const shift = this.#ilbShift - (nb >> 11);
    const lin = ILB[(nb >> 6) & 31];
    this.det = (shift < 0 ? lin << -shift : lin >> shift) << 2;
  }

  /** UPPOL2, UPPOL1, UPZERO, DELAYA, FILTEP, FILTEZ, PREDIC for the quantized difference `d`. */
  predict(d: number): void {
    const negative = this.sz + d < 0; // sign of P = D + SZ; zero counts as positive
    const same1 = negative === this.p1;
    const same2 = negative === this.p2;
    this.p2 = this.p1;
    this.p1 = negative;

    const wa1 = clamp(this.a1 * 4, -32767, 32767);
    const a2 = clamp(
      ((same1 ? -wa1 : wa1) >> 7) + (same2 ? 128 : -128) + ((this.a2 * 32512) >> 15),
      -12288,
      12288,
    );
    const limit = 15360 - a2;
    this.a2 = a2;
    this.a1 = clamp((same1 ? 192 : -192) + ((this.a1 * 32640) >> 15), -limit, limit);

    // Zero section: each Bi moves ±128 towards the sign agreement of D and D(n−i) (not when D = 0).
    const b = this.b;
    const dx2 = this.dx2;
    const step = d === 0 ? 0 : 128;
    const dNeg = d < 0;
    let sz = 0;
    for (let i = 5; i >= 0; i--) {
      const older = i === 0 ? d * 2 : dx2[i - 1];
      const bi = (dx2[i] < 0 === dNeg ? step : -step) + ((b[i] * 32640) >> 15);
      b[i] = bi;
      dx2[i] = older;
      sz += (bi * older) >> 15;
    }
    this.sz = sz;

    const rx2 = int16((this.s + d) * 2);
    this.s = int16(sz + ((this.a1 * rx2) >> 15) + ((this.a2 * this.r1x2) >> 15));
    this.r1x2 = rx2;
  }
}

export const lowBand = (): Band => new Band(32, 8, 18432);
export const highBand = (): Band => new Band(8, 10, 22528);

/** QMF history: pairs appended in time order, slid back when the buffer fills. */
export const HISTORY = 24;
export const HISTORY_BUFFER = 512;
