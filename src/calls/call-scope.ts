import type { FastifyBaseLogger } from 'fastify';

type Cleanup = () => void | Promise<void>;

/**
 * Owns everything one call starts: an AbortController whose signal every task receives, the
 * tasks themselves, timers, and cleanup callbacks. `close()` aborts, runs cleanups newest first,
 * and waits (bounded) for the tasks to settle, so nothing a call started outlives it.
 */
export class CallScope {
  readonly #controller = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  readonly #cleanups: Cleanup[] = [];
  readonly #log: FastifyBaseLogger;
  readonly #onFailure: (err: unknown) => void;
  #closing: Promise<void> | undefined;

  /** `onFailure` hears a throw from a timer the scope owns (the call ends; the process goes on). */
  constructor(log: FastifyBaseLogger, onFailure: (err: unknown) => void = () => undefined) {
    this.#log = log;
    this.#onFailure = onFailure;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs `task` under the scope's signal, starting it now (synchronously), so it has listened for
   * the abort before anything else can close the scope. A failure is logged, never thrown.
   */
  spawn(name: string, task: (signal: AbortSignal) => Promise<void>): void {
    if (this.closed) throw new Error(`scope is closed; cannot start task ${name}`);
    let started: Promise<void>;
    try {
      started = task(this.signal);
    } catch (err) {
      started = Promise.reject(err);
    }
    const running = started
      .catch((err: unknown) => {
        if (!this.signal.aborted) this.#log.error({ err, task: name }, 'call task failed');
      })
      .finally(() => this.#tasks.delete(running));
    this.#tasks.add(running);
  }

  /** Registers a cleanup, run on close in reverse order of registration. */
  defer(cleanup: Cleanup): void {
    if (this.closed) throw new Error('scope is closed');
    this.#cleanups.push(cleanup);
  }

  /** A timer that is unref'd and cleared when the scope closes; a throw in it is contained. */
  setTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      try {
        fn();
      } catch (err) {
        this.#log.error({ err }, 'call timer failed');
        this.#onFailure(err);
      }
    }, ms);
    timer.unref();
    this.defer(() => clearTimeout(timer));
    return timer;
  }

  /** Idempotent. Resolves when cleanups ran and tasks settled, or after `timeoutMs`. */
  close(reason: string, timeoutMs = 5_000): Promise<void> {
    this.#closing ??= this.#shutdown(reason, timeoutMs);
    return this.#closing;
  }

  async #shutdown(reason: string, timeoutMs: number): Promise<void> {
    this.#controller.abort(new Error(reason));
    for (const cleanup of this.#cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        this.#log.error({ err }, 'call cleanup failed');
      }
    }
    if (this.#tasks.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const outcome = await Promise.race([Promise.allSettled([...this.#tasks]), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#log.warn({ pending: this.#tasks.size, timeoutMs }, 'call tasks did not stop in time');
    }
  }
}
