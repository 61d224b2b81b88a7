/**
 * ITU-T G.722 at 64 kbit/s (mode 1): sub-band ADPCM, 16 kHz PCM16 ↔ one byte per two samples.
 * Written from the Recommendation's block descriptions (QMF, QUANTL/QUANTH, INVQAL/INVQAH,
 * LOGSCL/LOGSCH, SCALEL/SCALEH, UPPOL1/2, UPZERO, FILTEP/FILTEZ); every step is the spec's
 * fixed-point arithmetic, so the output is bit-exact (checked against ffmpeg's conformant codec).
 * State lives in one object per stream; no allocation per sample.
 */

import {
  clamp,
  HISTORY,
  HISTORY_BUFFER,
  highBand,
  int16,
  lowBand,
  Q6,
  QM2,
  QM4,
  QM6,
  QMF_EVEN,
  QMF_ODD,
  WH,
  WL,
} from './g722-band.js';

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
