/**
 * Post-call jobs, `concurrency` at a time, at most `max` waiting (oldest first). A job offered to
 * a full queue is refused (false): the caller reports it. close() stops taking jobs, aborts
 * the running ones (their signal) and waits for them.
 */
export class PostcallQueue {
  readonly #waiting: ((signal: AbortSignal) => Promise<void>)[] = [];
  readonly #running = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  readonly #concurrency: number;
  readonly #max: number;

  constructor(concurrency: number, max: number) {
    this.#concurrency = concurrency;
    this.#max = max;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#running.size;
  }

  offer(job: (signal: AbortSignal) => Promise<void>): boolean {
    if (this.#stop.signal.aborted || this.#waiting.length >= this.#max) return false;
    this.#waiting.push(job);
    this.#next();
    return true;
  }

  /** Resolves once nothing is waiting or running (tests, and a drain before shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || this.#waiting.length > 0) await Promise.allSettled([...this.#running]);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    this.#waiting.length = 0;
    await this.idle();
  }

  #next(): void {
    while (this.#running.size < this.#concurrency && this.#waiting.length > 0) {
      const job = this.#waiting.shift() as (signal: AbortSignal) => Promise<void>;
      // A job reports its own failures; a throw that escapes one must not stop the queue.
      const run: Promise<void> = job(this.#stop.signal)
        .catch(() => undefined)
        .finally(() => {
          this.#running.delete(run);
          this.#next();
        });
      this.#running.add(run);
    }
  }
}
