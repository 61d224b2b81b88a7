/** When utterances start and end, decided from per-window speech probabilities. */
export interface SegmenterOptions {
  /** Probability at or above which a window is speech. */
  readonly threshold: number;
  /** Speech must last this long to open an utterance (clicks and coughs don't). */
  readonly minSpeechMs: number;
  /** Silence this long ends the utterance (the hangover). */
  readonly minSilenceMs: number;
  /** An utterance is cut at this length even if speech goes on. */
  readonly maxUtteranceMs: number;
}

export type SegmentDecision =
  | { readonly type: 'start'; readonly atMs: number }
  | { readonly type: 'end'; readonly atMs: number }
  /** Maximum length reached: the utterance ends at `atMs` and the next begins there. */
  | { readonly type: 'cut'; readonly atMs: number };

/** Below threshold − this, a window counts as silence; in between, the current state holds. */
const HYSTERESIS = 0.15;

/** Pure state machine, fed one window at a time in call-clock order (Silero's VADIterator rules). */
export class VadSegmenter {
  readonly #o: SegmenterOptions;
  #speaking = false;
  #candidateStartMs: number | undefined;
  #silenceStartMs: number | undefined;
  #utteranceStartMs = 0;

  constructor(options: SegmenterOptions) {
    this.#o = options;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** No utterance open and none starting: a window here can only keep it so or begin speech. */
  get idle(): boolean {
    return !this.#speaking && this.#candidateStartMs === undefined;
  }

  update(probability: number, startMs: number, endMs: number): SegmentDecision | undefined {
    const o = this.#o;
    if (!this.#speaking) {
      if (probability < o.threshold) {
        this.#candidateStartMs = undefined;
        return undefined;
      }
      this.#candidateStartMs ??= startMs;
      if (endMs - this.#candidateStartMs < o.minSpeechMs) return undefined;
      this.#speaking = true;
      this.#silenceStartMs = undefined;
      this.#utteranceStartMs = this.#candidateStartMs;
      this.#candidateStartMs = undefined;
      return { type: 'start', atMs: this.#utteranceStartMs };
    }
    if (probability < o.threshold - HYSTERESIS) {
      this.#silenceStartMs ??= startMs;
      if (endMs - this.#silenceStartMs >= o.minSilenceMs) {
        this.#speaking = false;
        const atMs = this.#silenceStartMs;
        this.#silenceStartMs = undefined;
        return { type: 'end', atMs };
      }
    } else if (probability >= o.threshold) {
      this.#silenceStartMs = undefined;
    }
    if (endMs - this.#utteranceStartMs >= o.maxUtteranceMs) {
      this.#utteranceStartMs = endMs;
      this.#silenceStartMs = undefined;
      return { type: 'cut', atMs: endMs };
    }
    return undefined;
  }
}
