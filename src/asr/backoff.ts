/**
 * Exponential backoff with full jitter: attempt n (from 0) waits a random time up to
 * min(max, base·2ⁿ), never less than base/2 (a tight loop against a dead server is what it is for).
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.max(baseMs / 2, Math.round(ceiling * random()));
}

/** The same, counting attempts itself (reset on success). */
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
    return backoffDelay(this.#attempt++, this.#baseMs, this.#maxMs, this.#random);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
