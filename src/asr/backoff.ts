/** Exponential backoff with full jitter: attempt n waits a random time in [0, min(max, base·2ⁿ)]. */
export class Backoff {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(baseMs: number, maxMs: number, random: () => number = Math.random) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
    this.#random = random;
  }

  get attempts(): number {
    return this.#attempt;
  }

  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#baseMs * 2 ** this.#attempt);
    this.#attempt++;
    // Never 0: a tight loop against a dead server is what the backoff is for.
    return Math.max(this.#baseMs / 2, Math.round(ceiling * this.#random()));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
