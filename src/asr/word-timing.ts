import type { Word } from './transcript-event.js';

/** Voxtral decodes one token per 80 ms of audio, a word or a silent placeholder alike. */
export const STEP_MS = 80;
/** A word's end is not visible in the token stream; it is cut off at this length. */
const MAX_WORD_MS = 1_200;

/**
 * Turns the deltas of one utterance into words on the call clock.
 *
 * Voxtral is trained with text aligned to word onsets (a `[W]` marker opens each word group), and
 * vLLM's prompt already accounts for the streaming delay: the delta at step k describes audio up to
 * (k + 1) × 80 ms after the utterance start. The `[W]` marker is a silent step, so a word whose
 * first text shows up at step k began at about k × 80 ms. Its end is the next word's start, or the
 * end of the utterance's speech for the last word, capped at MAX_WORD_MS. Starts are good to about
 * ±1 step (±80 ms) plus the model's own alignment error; ends are coarser.
 */
export class WordTimer {
  readonly #utteranceStartMs: number;
  readonly #words: { word: string; startMs: number }[] = [];
  #step = 0;
  #text = '';
  #lastTextAtMs = 0;

  constructor(utteranceStartMs: number) {
    this.#utteranceStartMs = utteranceStartMs;
  }

  /** Steps decoded so far. */
  get steps(): number {
    return this.#step;
  }

  get text(): string {
    return this.#text;
  }

  /** Call-clock time up to which the decoded text reflects the audio. */
  get audioMs(): number {
    return Math.max(this.#utteranceStartMs + this.#step * STEP_MS, this.#lastTextAtMs);
  }

  /** One delta, empty ones included: each is one model step. */
  push(delta: string): void {
    const at = this.#utteranceStartMs + this.#step * STEP_MS;
    this.#step++;
    this.addText(delta, at);
  }

  /** Text that arrived at call-clock time `atMs`, for engines without a step cadence. */
  addText(delta: string, atMs: number): void {
    if (delta === '') return;
    this.#lastTextAtMs = Math.max(this.#lastTextAtMs, atMs);
    // Sub-word pieces continue the current word; a leading space opens a new one.
    const pieces = delta.split(/(?=\s)/);
    for (const piece of pieces) {
      const trimmed = piece.trim();
      const last = this.#words.at(-1);
      if (trimmed === '') continue;
      if (last && !/^\s/.test(piece)) {
        last.word += trimmed;
      } else {
        this.#words.push({ word: trimmed, startMs: atMs });
      }
    }
    this.#text += delta;
  }

  /** The words, with ends, for an utterance whose speech ended at `speechEndMs`. */
  words(speechEndMs: number): Word[] {
    return this.#words.map((w, i) => {
      const next = this.#words[i + 1]?.startMs ?? Math.max(speechEndMs, w.startMs + STEP_MS);
      return { word: w.word, startMs: w.startMs, endMs: Math.min(next, w.startMs + MAX_WORD_MS) };
    });
  }
}
