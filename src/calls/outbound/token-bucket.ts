/**
 * A token bucket on an injected clock: `ratePerS` tokens a second, holding at most `capacity`
 * (the burst). Starts full.
 */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(ratePerS: number, capacity: number, now: () => number) {
    this.#ratePerMs = ratePerS / 1000;
    this.#capacity = capacity;
    this.#now = now;
    this.#tokens = capacity;
    this.#at = now();
  }

  /** Takes a token and answers 0, or takes none and answers the ms until one is there. */
  take(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#ratePerMs);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }
}
