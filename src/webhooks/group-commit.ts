/** Most requests in one commit: bounds a transaction's size and the latency of its last request. */
const MAX_BATCH = 512;

/** Requests waiting for a commit beyond this are refused: a store far behind must not take the memory. */
export const MAX_WAITING = 50_000;

/** Refused at once: the store is this far behind (it will be counted as a failed append). */
export class GroupCommitFullError extends Error {
  constructor(waiting: number) {
    super(`the store is behind: ${waiting} writes already wait for a commit`);
    this.name = 'GroupCommitFullError';
  }
}

interface Pending<Req, Res> {
  readonly request: Req;
  readonly resolve: (value: Res) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit: requests made while the previous commit runs (or in the same event-loop turn)
 * share one transaction and one fsync, in the order they were made. Each request's promise
 * settles with its own result once that transaction is committed. If a batch fails, its requests
 * are tried one by one, so one bad request fails alone and the others are not lost. At most
 * `maxWaiting` wait: beyond, a request is refused at once (GroupCommitFullError).
 */
export class GroupCommit<Req, Res> {
  readonly #commit: (batch: readonly Req[]) => Promise<readonly Res[]> | readonly Res[];
  #queue: Pending<Req, Res>[] = [];
  #running: Promise<void> | undefined;
  #scheduled = false;
  readonly #maxWaiting: number;

  constructor(
    commit: (batch: readonly Req[]) => Promise<readonly Res[]> | readonly Res[],
    maxWaiting = MAX_WAITING,
  ) {
    this.#commit = commit;
    this.#maxWaiting = maxWaiting;
  }

  submit(request: Req): Promise<Res> {
    if (this.#queue.length >= this.#maxWaiting)
      return Promise.reject(new GroupCommitFullError(this.#queue.length));
    return new Promise<Res>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once everything submitted so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#running || this.#scheduled) {
      await (this.#running ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#running = this.#run().finally(() => {
        this.#running = undefined;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #run(): Promise<void> {
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    try {
      const results = await this.#commit(batch.map((p) => p.request));
      for (const [i, p] of batch.entries()) p.resolve(results[i] as Res);
      return;
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
    }
    for (const p of batch) {
      try {
        const [result] = await this.#commit([p.request]);
        p.resolve(result as Res);
      } catch (err) {
        p.reject(err);
      }
    }
  }
}
