import { Backoff } from './backoff.js';

/**
 * One leg's view of its engine connection's health: attempts failed in a row, whether that is an
 * outage (a second failure in a row, or audio dropped for want of an engine), and how long to wait
 * before the next attempt. It decides what is worth saying (a warning as a failure run starts, the
 * transcript's engine_unavailable once per outage, an info line once the engine is back); the
 * stream says it.
 */
export class EngineOutage {
  readonly #backoff: Backoff;
  #failedInARow = 0;
  #outage = false;

  constructor(backoffBaseMs: number, backoffMaxMs: number, random: () => number = Math.random) {
    this.#backoff = new Backoff(backoffBaseMs, backoffMaxMs, random);
  }

  /**
   * A session was set up. Returns how many attempts had failed when there was something to
   * recover from (an outage, or failures), else undefined; either way the slate is clean.
   */
  recovered(): number | undefined {
    const failed = this.#outage || this.#failedInARow > 0 ? this.#failedInARow : undefined;
    this.#backoff.reset();
    this.#outage = false;
    this.#failedInARow = 0;
    return failed;
  }

  /** The connection was lost: this attempt's number, and whether it turns the failures into an outage. */
  lost(): { readonly attempt: number; readonly outageStarts: boolean } {
    this.#failedInARow++;
    const outageStarts = this.#failedInARow === 2 && !this.#outage;
    if (outageStarts) this.#outage = true;
    return { attempt: this.#failedInARow, outageStarts };
  }

  /** Audio was dropped because no engine took it: true when that starts an outage. */
  overflowed(): boolean {
    if (this.#outage) return false;
    this.#outage = true;
    return true;
  }

  /** How long to wait before the next attempt (exponential, jittered). */
  nextWait(): number {
    return this.#backoff.next();
  }
}
