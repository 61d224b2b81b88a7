/**
 * ITU-T G.722 at 64 kbit/s (mode 1): sub-band ADPCM, 16 kHz PCM16 ↔ one byte per two samples.
 * Written from the Recommendation's block descriptions (QMF, QUANTL/QUANTH, INVQAL/INVQAH,
 * LOGSCL/LOGSCH, SCALEL/SCALEH, UPPOL1/2, UPZERO, FILTEP/FILTEZ); every step is the spec's
 * fixed-point arithmetic, so the output is bit-exact (checked against ffmpeg's conformant codec).
 * State lives in one object per stream; no allocation per sample.
 */

/** QMF coefficients h(0)…h(23) are symmetric; these are h(2i), i = 0…11 (h(2i+1) = h(22−2i)). */
const QMF_EVEN = Int32Array.of(3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11);
const QMF_ODD = Int32Array.of(-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3);

/** QUANTL decision levels Q6(1)…Q6(29), in units of DETL/4096. */
const Q6 = Int32Array.of(
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
const QM6 = Int32Array.of(
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
const QM4 = Int32Array.of(
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
const WL = Int32Array.of(-60, 3042, 1198, 538, 334, 172, 58, -30, 3042, 1198, 538, 334, 172, 58, -30, -60);
/** INVQAH and LOGSCH by the 2-bit code. */
const QM2 = Int32Array.of(-7408, -1616, 7408, 1616);
const WH = Int32Array.of(798, -214, 798, -214);
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

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
const int16 = (v: number): number => (v < -32768 ? -32768 : v > 32767 ? 32767 : v);

/** One sub-band's ADPCM state: the adaptive predictor and the quantizer's scale factor. */
class Band {
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

const lowBand = (): Band => new Band(32, 8, 18432);
const highBand = (): Band => new Band(8, 10, 22528);

/** QMF history: pairs appended in time order, slid back when the buffer fills. */
const HISTORY = 24;
const HISTORY_BUFFER = 512;

/** One stream's G.722 decoder: bytes (a high 2-bit and a low 6-bit code each) → 16 kHz PCM16. */
export class G722Decoder {
  readonly #low = lowBand();
  readonly #high = highBand();
  /** Receive QMF input: (RL + RH, RL − RH) per byte. */
  readonly #history = new Int32Array(HISTORY_BUFFER);
  #at = HISTORY;

  /** Decodes `src` into `dst` (2 samples per byte); returns `dst`. Any byte is valid input. */
  decode(src: Uint8Array, dst: Int16Array = new Int16Array(src.length * 2)): Int16Array {
    if (dst.length < src.length * 2)
      throw new RangeError(`output holds ${dst.length} samples, needs ${src.length * 2}`);
    const low = this.#low;
    const high = this.#high;
    const history = this.#history;
    for (let n = 0; n < src.length; n++) {
      const code = src[n];
      const il = code & 0x3f;
      const ih = code >> 6;

      const rl = clamp(low.s + ((low.det * QM6[il]) >> 15), -16384, 16383);
      low.predict((low.det * QM4[il >> 2]) >> 15);
      low.adaptScale(WL[il >> 2]);

      const dh = (high.det * QM2[ih]) >> 15;
      const rh = clamp(high.s + dh, -16384, 16383);
      high.predict(dh);
      high.adaptScale(WH[ih]);

      if (this.#at === HISTORY_BUFFER) {
        history.copyWithin(0, HISTORY_BUFFER - HISTORY + 2);
        this.#at = HISTORY - 2;
      }
      history[this.#at++] = rl + rh;
      history[this.#at++] = rl - rh;
      // Receive QMF: the first output from the differences with h(2i), the second from the sums.
      let even = 0;
      let odd = 0;
      for (let i = 0, k = this.#at - 1; i < 12; i++, k -= 2) {
        even += QMF_EVEN[i] * history[k];
        odd += QMF_ODD[i] * history[k - 1];
      }
      dst[2 * n] = int16(even >> 11);
      dst[2 * n + 1] = int16(odd >> 11);
    }
    return dst;
  }
}

/** One stream's G.722 encoder: 16 kHz PCM16 → one byte per two samples (an odd last sample waits). */
export class G722Encoder {
  readonly #low = lowBand();
  readonly #high = highBand();
  /** Transmit QMF input samples in time order. */
  readonly #history = new Int32Array(HISTORY_BUFFER);
  #at = HISTORY;
  #held: number | undefined;

  /** Bytes for `src` (plus a sample held from the last call); `floor(samples / 2)` of them. */
  encode(src: Int16Array): Uint8Array {
    const total = src.length + (this.#held === undefined ? 0 : 1);
    const out = new Uint8Array(total >> 1);
    let i = 0;
    let n = 0;
    if (this.#held !== undefined && src.length > 0) {
      out[n++] = this.#encodePair(this.#held, src[0]);
      this.#held = undefined;
      i = 1;
    }
    for (; i + 1 < src.length; i += 2) out[n++] = this.#encodePair(src[i], src[i + 1]);
    if (i < src.length) this.#held = src[i];
    return out;
  }

  #encodePair(first: number, second: number): number {
    const history = this.#history;
    if (this.#at === HISTORY_BUFFER) {
      history.copyWithin(0, HISTORY_BUFFER - HISTORY + 2);
      this.#at = HISTORY - 2;
    }
    history[this.#at++] = first;
    history[this.#at++] = second;
    // Transmit QMF: XA over the newest sample and every second one before it, XB over the others.
    let xa = 0;
    let xb = 0;
    for (let i = 0, k = this.#at - 1; i < 12; i++, k -= 2) {
      xa += QMF_EVEN[i] * history[k];
      xb += QMF_ODD[i] * history[k - 1];
    }
    const xl = (xa + xb) >> 14;
    const xh = (xa - xb) >> 14;

    const low = this.#low;
    const el = int16(xl - low.s);
    const wd = el >= 0 ? el : -(el + 1);
    let mil = 0; // QUANTL: the first decision level above |EL|, 0…29
    while (mil < 29 && wd >= (Q6[mil] * low.det) >> 12) mil++;
    const il = el < 0 ? (mil < 2 ? 63 - mil : 33 - mil) : 61 - mil;
    low.predict((low.det * QM4[il >> 2]) >> 15);
    low.adaptScale(WL[il >> 2]);

    const high = this.#high;
    const eh = int16(xh - high.s);
    const wdh = eh >= 0 ? eh : -(eh + 1);
    const big = wdh >= (564 * high.det) >> 12;
    const ih = eh < 0 ? (big ? 0 : 1) : big ? 2 : 3;
    high.predict((high.det * QM2[ih]) >> 15);
    high.adaptScale(WH[ih]);

    return (ih << 6) | il;
  }
}
