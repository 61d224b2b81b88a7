import { DIGITS, DtmfBlock } from './dtmf-block.js';

/** A key press heard in the audio, on the call clock (ms). */
export interface DtmfTone {
  readonly digit: string;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * 12.5 ms blocks (200 samples at 16 kHz, 100 at 8 kHz). Long enough that the filters tell adjacent
 * rows (73 Hz apart) apart by 20 dB; short enough that a 40 ms tone (ITU-T Q.24, Bell), wherever
 * it falls, fills two whole blocks, which is what confirms it. spandsp uses the same (102 at 8 kHz).
 */
const BLOCK_MS = 12.5;
/**
 * Q.24 leaves 23–40 ms to the decoder; 35 ms rejects the 30 ms bursts speech and clicks make and
 * leaves 5 ms for error in the edges, which are measured to a fraction of a block (see `#edges`).
 */
const MIN_TONE_MS = 35;
/** Blocks without the digit that end a tone: two, so one noisy block does not split a key press. */
const END_AFTER_MISSES = 2;
/** startMs further than this from where the audio so far ends is a gap (1 ms absorbs rounding). */
const GAP_TOLERANCE_MS = 1;

const NO_TONES: DtmfTone[] = [];
Object.freeze(NO_TONES);

/**
 * In-band DTMF detector for one leg: Goertzel filters over fixed blocks, a block accepted when one
 * row and one column stand out within their groups, within the twist limits, above the minimum
 * level, with most of the block's energy and without second harmonics (speech has them); the same
 * digit in two consecutive blocks confirms a key press, two blocks without it end it.
 *
 * Edges are finer than blocks: a tone's amplitude in the block where it starts or stops is the
 * fraction of the block it fills, so each edge is placed within a millisecond or so on clean audio.
 * Pure and allocation-free per block; it allocates only the tone it returns.
 */
export class DtmfDetector {
  readonly #block: DtmfBlock;
  readonly #rate: number;
  /** Where the audio fed since the last reset starts, and how many samples it holds. */
  #anchorMs: number | undefined;
  #fed = 0;
  /** Start of the block being filled. */
  #blockStartMs = 0;
  /** The previous block: its start, whether it was loud, and its 8 tone amplitudes². */
  #prevStartMs = 0;
  #prevLoud = false;
  readonly #prevTonesSq = new Float64Array(8);
  /** The run of blocks carrying one digit: −1 when none. */
  #digit = -1;
  #hits = 0;
  #misses = 0;
  #firstStartMs = 0;
  #firstAmp = 0;
  #beforeAmp = 0;
  /** Earliest start the run may claim: the block before it when that was loud, else its first. */
  #floorMs = 0;
  #lastStartMs = 0;
  #lastAmp = 0;
  #afterAmp = 0;
  /** Largest amplitude in the run: the tone's full-block amplitude. */
  #fullAmp = 0;
  #lastEndMs = Number.NEGATIVE_INFINITY;

  constructor(sampleRate: 16000 | 8000 = 16000) {
    if (sampleRate !== 16000 && sampleRate !== 8000) throw new RangeError(`unsupported rate ${sampleRate}`);
    this.#rate = sampleRate;
    this.#block = new DtmfBlock(sampleRate, (sampleRate * BLOCK_MS) / 1000);
  }

  /**
   * Feeds contiguous audio starting at `startMs` (call clock, ms). Returns the tones that ended in
   * it (a shared frozen array when none, so the usual call allocates nothing). Frames can be any
   * length; a gap in startMs ends a tone still sounding (it is returned here) and starts afresh.
   */
  push(pcm: Int16Array, startMs: number): DtmfTone[] {
    let out = NO_TONES;
    if (this.#anchorMs === undefined) this.#restart(startMs);
    else if (Math.abs(startMs - this.#endMs()) > GAP_TOLERANCE_MS) {
      out = this.flush();
      this.#restart(startMs);
    }
    const block = this.#block;
    for (let at = 0; at < pcm.length; ) {
      const to = Math.min(pcm.length, at + block.length - block.filled);
      block.take(pcm, at, to);
      this.#fed += to - at;
      at = to;
      if (block.filled === block.length) {
        const tone = this.#judge();
        if (tone) out = out === NO_TONES ? [tone] : [...out, tone];
      }
    }
    return out;
  }

  /**
   * Start (ms) of a tone being heard now (at or a little before it), or of audio not yet cleared of
   * being the start of one; undefined when all audio fed is judged free of tones. Audio in blocks
   * not yet judged counts unless it is quiet (below −50 dBFS), so over speech this trails the audio
   * by one or two blocks (≤ 25 ms). So a tone returned later never sounds in audio that lay before
   * this value, or was fed while it was undefined: what the recorder let go holds no key press.
   */
  pendingFromMs(): number | undefined {
    if (this.#anchorMs === undefined) return undefined;
    // Not the tone's measured start, which may err by a millisecond either way: the block it lies in.
    if (this.#hits > 0) return this.#floorMs;
    // A loud block just judged clean may still hold the head of a tone the next block confirms.
    if (this.#prevLoud) return this.#prevStartMs;
    if (this.#block.loudSoFar()) return this.#blockStartMs;
    return undefined;
  }

  /** Ends the stream: a tone still sounding is returned. */
  flush(): DtmfTone[] {
    let tone: DtmfTone | undefined;
    if (this.#hits >= 2) {
      // The unfinished block ends the tone: measured as if full, it reads as the part it filled.
      if (this.#misses === 0) {
        this.#block.measure();
        this.#afterAmp = this.#block.amplitude(this.#digit);
      }
      tone = this.#emit();
    }
    this.#anchorMs = undefined;
    return tone ? [tone] : NO_TONES;
  }

  #restart(startMs: number): void {
    this.#anchorMs = startMs;
    this.#fed = 0;
    this.#blockStartMs = startMs;
    this.#prevLoud = false;
    this.#lastEndMs = Number.NEGATIVE_INFINITY;
    this.#digit = -1;
    this.#hits = 0;
    this.#block.clear();
  }

  #endMs(): number {
    return (this.#anchorMs ?? 0) + (this.#fed * 1000) / this.#rate;
  }

  /** A block is full: measure it and advance the run. Returns a tone that ended. */
  #judge(): DtmfTone | undefined {
    const block = this.#block;
    block.measure();
    const startMs = this.#blockStartMs;
    const digit = block.digit();
    let tone: DtmfTone | undefined;
    if (this.#hits >= 2) {
      // A confirmed tone goes on by the looser tests; another digit, or two blocks without, end it.
      if (digit === this.#digit || (digit < 0 && block.holds(this.#digit))) {
        this.#extend(startMs, block.amplitude(this.#digit));
      } else {
        if (this.#misses === 0) this.#afterAmp = block.amplitude(this.#digit);
        this.#misses++;
        if (digit >= 0 || this.#misses >= END_AFTER_MISSES) tone = this.#emit();
      }
    } else if (this.#hits === 1 && digit === this.#digit) {
      this.#extend(startMs, block.amplitude(digit));
    } else {
      this.#hits = 0;
    }
    if (digit >= 0 && this.#hits === 0) this.#begin(digit, startMs, block.amplitude(digit));
    this.#prevStartMs = startMs;
    this.#prevLoud = block.wasLoud();
    this.#prevTonesSq.set(block.tonesSq);
    this.#blockStartMs = startMs + BLOCK_MS;
    return tone;
  }

  #begin(digit: number, startMs: number, amp: number): void {
    this.#digit = digit;
    this.#hits = 1;
    this.#misses = 0;
    this.#firstStartMs = startMs;
    this.#firstAmp = amp;
    const prev = this.#prevTonesSq;
    const hadPrev = this.#fed >= 2 * this.#block.length;
    this.#beforeAmp = hadPrev ? Math.sqrt(prev[digit >> 2]) + Math.sqrt(prev[4 + (digit & 3)]) : 0;
    this.#floorMs = Math.max(this.#lastEndMs, hadPrev && this.#prevLoud ? this.#prevStartMs : startMs);
    this.#lastStartMs = startMs;
    this.#lastAmp = amp;
    this.#fullAmp = amp;
  }

  #extend(startMs: number, amp: number): void {
    this.#hits++;
    this.#misses = 0;
    this.#lastStartMs = startMs;
    this.#lastAmp = amp;
    if (amp > this.#fullAmp) this.#fullAmp = amp;
  }

  /**
   * Edges from the fraction of a block the tone fills at each end (its amplitude there over its
   * full-block amplitude): the first and last blocks of the run, and the blocks either side.
   */
  #edges(): { startMs: number; endMs: number } {
    const share = (amp: number) => Math.min(1, amp / this.#fullAmp);
    const startMs = this.#firstStartMs + (1 - share(this.#firstAmp) - share(this.#beforeAmp)) * BLOCK_MS;
    const afterAmp = this.#misses > 0 ? this.#afterAmp : 0;
    const endMs = this.#lastStartMs + (share(this.#lastAmp) + share(afterAmp)) * BLOCK_MS;
    return { startMs: Math.max(this.#floorMs, startMs), endMs };
  }

  /** Closes the run; the tone, if it lasted long enough to be a key press. */
  #emit(): DtmfTone | undefined {
    const { startMs, endMs } = this.#edges();
    const digit = DIGITS[this.#digit];
    this.#hits = 0;
    this.#digit = -1;
    if (endMs - startMs < MIN_TONE_MS) return undefined;
    this.#lastEndMs = endMs;
    return { digit, startMs, endMs };
  }
}
