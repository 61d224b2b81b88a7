/**
 * One analysis block of the DTMF detector: Goertzel filters on the eight DTMF frequencies and on
 * their second harmonics, the block's energy, and the decoder's acceptance tests.
 *
 * Thresholds are those common decoders use (spandsp, Asterisk), restated per tone so that they do
 * not depend on the block length. Levels are per tone, as a sine's amplitude (AES17 dBFS).
 */

export const ROWS_HZ = [697, 770, 852, 941] as const;
export const COLUMNS_HZ = [1209, 1336, 1477, 1633] as const;
export const DIGITS = '123A456B789C*0#D';

const dbPower = (db: number) => 10 ** (db / 10);
const amplitudeAtDbfs = (db: number) => 32767 * 10 ** (db / 20);

/**
 * −38 dBFS per tone ≈ −35 dBm0: the Bell limit of 26 dB line loss below a −7 dBm0 sender, with
 * 2 dB to spare. Quieter pairs are noise or crosstalk.
 */
const MIN_AMPLITUDE_SQ = amplitudeAtDbfs(-38) ** 2;
/**
 * Twist as spandsp and Asterisk name it: the low (row) tone may be up to 8 dB louder than the high
 * one ("forward"), the high tone up to 4 dB louder than the low one ("reverse").
 */
const FORWARD_TWIST = dbPower(8);
const REVERSE_TWIST = dbPower(4);
/** The chosen row (column) must beat every other row (column) by 8 dB. */
const RELATIVE_PEAK = dbPower(8);
/**
 * The pair must carry 70 % of the block's energy. Speech and music spread theirs over many
 * harmonics; a real pair keeps > 80 % even at 15 dB SNR, less the leakage of a rectangular window.
 */
const MIN_SHARE = 0.7;
/**
 * A key press is two pure sines, so the column's second harmonic (2.4–3.3 kHz, clear of every DTMF
 * tone) must be 12 dB down: voiced speech that lands a harmonic on a column has its double too.
 * A row's double (1394–1882 Hz) lies within a bin of the columns, so it only has to be weaker
 * than the row itself, as in Asterisk.
 */
const COLUMN_HARMONIC = dbPower(12);
const ROW_HARMONIC = 1;
/** Looser tests that keep a confirmed tone going (and cover a partly filled edge block). */
const HOLD_PEAK = dbPower(3);
const HOLD_MIN_AMPLITUDE_SQ = MIN_AMPLITUDE_SQ / 4;
const HOLD_SHARE = 0.3;
/**
 * Block energy (mean square) below which audio cannot hide a key press worth holding for: a
 * −50 dBFS RMS floor, 12 dB under the quietest accepted pair.
 */
const QUIET_MEAN_SQ = (MIN_AMPLITUDE_SQ * 2) / 16;

const FILTERS = 16; // 8 fundamentals, then their 8 second harmonics

/**
 * Goertzel state for one block. Filters run at the exact DTMF frequencies (non-integer bins), over
 * a rectangular window: any taper would blur the 73 Hz between adjacent rows.
 */
export class DtmfBlock {
  readonly length: number;
  /** Samples taken into the current block. */
  filled = 0;
  /** Amplitude² of each of the 8 tones in the last finished block (or the partial one, see `measure`). */
  readonly tonesSq = new Float64Array(8);
  readonly #harmonicsSq = new Float64Array(8);
  #meanSq = 0;
  readonly #coef = new Float64Array(FILTERS);
  readonly #s1 = new Float64Array(FILTERS);
  readonly #s2 = new Float64Array(FILTERS);
  #energy = 0;

  constructor(sampleRate: number, length: number) {
    this.length = length;
    const freqs = [...ROWS_HZ, ...COLUMNS_HZ];
    for (let k = 0; k < FILTERS; k++) {
      const f = k < 8 ? freqs[k] : 2 * freqs[k - 8];
      this.#coef[k] = 2 * Math.cos((2 * Math.PI * f) / sampleRate);
    }
  }

  /** Takes pcm[from, to) into the block; the caller keeps `to − from` ≤ `length − filled`. */
  take(pcm: Int16Array, from: number, to: number): void {
    // One filter at a time over the piece, so its two state values stay in registers.
    for (let k = 0; k < FILTERS; k++) {
      const c = this.#coef[k];
      let s1 = this.#s1[k];
      let s2 = this.#s2[k];
      for (let i = from; i < to; i++) {
        const s0 = pcm[i] + c * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      this.#s1[k] = s1;
      this.#s2[k] = s2;
    }
    let energy = this.#energy;
    for (let i = from; i < to; i++) energy += pcm[i] * pcm[i];
    this.#energy = energy;
    this.filled += to - from;
  }

  /**
   * Turns the filters into amplitudes and starts a new block. A partial block is scaled as if full,
   * so a tone that fills a fraction of it reads as that fraction of its amplitude.
   */
  measure(): void {
    const scale = 4 / (this.length * this.length);
    for (let k = 0; k < FILTERS; k++) {
      const s1 = this.#s1[k];
      const s2 = this.#s2[k];
      const power = (s1 * s1 + s2 * s2 - this.#coef[k] * s1 * s2) * scale;
      if (k < 8) this.tonesSq[k] = power;
      else this.#harmonicsSq[k - 8] = power;
    }
    this.#meanSq = this.#energy / this.length;
    this.clear();
  }

  clear(): void {
    this.#s1.fill(0);
    this.#s2.fill(0);
    this.#energy = 0;
    this.filled = 0;
  }

  /** Whether the block so far holds enough energy to be (part of) a key press. */
  loudSoFar(): boolean {
    return this.#energy > QUIET_MEAN_SQ * this.length;
  }

  /** Whether the measured block was loud enough to hold part of a key press. */
  wasLoud(): boolean {
    return this.#meanSq > QUIET_MEAN_SQ;
  }

  /** Amplitude of digit `d`'s two tones together in the measured block: linear in how much of it they fill. */
  amplitude(d: number): number {
    return Math.sqrt(this.tonesSq[d >> 2]) + Math.sqrt(this.tonesSq[4 + (d & 3)]);
  }

  /** The digit (index into DIGITS) the measured block passes every acceptance test for, or −1. */
  digit(): number {
    const t = this.tonesSq;
    const row = strongest(t, 0);
    const col = strongest(t, 4);
    const rowSq = t[row];
    const colSq = t[col];
    if (rowSq < MIN_AMPLITUDE_SQ || colSq < MIN_AMPLITUDE_SQ) return -1;
    if (rowSq > colSq * FORWARD_TWIST || colSq > rowSq * REVERSE_TWIST) return -1;
    if (!standsOut(t, row, 0, RELATIVE_PEAK) || !standsOut(t, col, 4, RELATIVE_PEAK)) return -1;
    if ((rowSq + colSq) / 2 < MIN_SHARE * this.#meanSq) return -1;
    if (this.#harmonicsSq[col] * COLUMN_HARMONIC > colSq) return -1;
    if (this.#harmonicsSq[row] * ROW_HARMONIC > rowSq) return -1;
    return ((row & 3) << 2) | (col & 3);
  }

  /** Whether the measured block still carries digit `d`, by the looser tests that hold a tone. */
  holds(d: number): boolean {
    const t = this.tonesSq;
    const row = d >> 2;
    const col = 4 + (d & 3);
    if (t[row] < HOLD_MIN_AMPLITUDE_SQ || t[col] < HOLD_MIN_AMPLITUDE_SQ) return false;
    if (!standsOut(t, row, 0, HOLD_PEAK) || !standsOut(t, col, 4, HOLD_PEAK)) return false;
    return (t[row] + t[col]) / 2 >= HOLD_SHARE * this.#meanSq;
  }
}

function strongest(t: Float64Array, group: number): number {
  let best = group;
  for (let k = group + 1; k < group + 4; k++) if (t[k] > t[best]) best = k;
  return best;
}

function standsOut(t: Float64Array, best: number, group: number, ratio: number): boolean {
  for (let k = group; k < group + 4; k++) if (k !== best && t[k] * ratio > t[best]) return false;
  return true;
}
