import type { FastifyBaseLogger } from 'fastify';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';

type Cleanup = () => void | Promise<void>;

/**
 * Owns everything one call starts: an AbortController whose signal every task receives, the
 * tasks themselves, timers, and cleanup callbacks. `close()` aborts, clears its timers, runs
 * cleanups newest first, and waits (bounded) for the tasks to settle, so nothing a call started
 * outlives it. Its timers run on the injected Clock (the system clock unless a test passes one).
 */
export class CallScope {
  readonly #controller = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  readonly #cleanups: Cleanup[] = [];
  readonly #lastCleanups: Cleanup[] = [];
  readonly #log: FastifyBaseLogger;
  readonly #onFailure: (err: unknown) => void;
  readonly #clock: Clock;
  /** Timers the scope owns and has not yet run (one-shot) or cleared. */
  readonly #timers = new Set<TimerHandle>();
  #closing: Promise<void> | undefined;
  #closed = false;
  /**
   * The scope's clock with its timers owned by the scope (unref'd, a throw contained, cleared on
   * close): for per-call modules that take a Clock. A timer set once closing began never fires.
   */
  readonly timers: Clock;

  /** `onFailure` hears a throw from a timer the scope owns (the call ends; the process goes on). */
  constructor(
    log: FastifyBaseLogger,
    onFailure: (err: unknown) => void = () => undefined,
    clock: Clock = systemClock,
  ) {
    this.#log = log;
    this.#onFailure = onFailure;
    this.#clock = clock;
    this.timers = {
      now: () => clock.now(),
      wallNow: () => clock.wallNow(),
      setTimeout: (fn, ms) => this.setTimer(ms, fn),
      setInterval: (fn, ms) => this.setInterval(ms, fn),
      clearTimeout: (handle) => this.clearTimer(handle),
      clearInterval: (handle) => this.clearTimer(handle),
    };
  }

  /** The call's clock itself (timers set on it are not the scope's: for work that outlives close). */
  get clock(): Clock {
    return this.#clock;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closed;
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

  /**
   * A cleanup that runs after every `defer`red one (these too newest first): for what must see the
   * call's last words, such as the recorder, which writes audio only once its transcript is final.
   */
  deferLast(cleanup: Cleanup): void {
    if (this.closed) throw new Error('scope is closed');
    this.#lastCleanups.push(cleanup);
  }

  /**
   * A timer that is unref'd and cleared when the scope closes (or by `clearTimer`); a throw in it
   * is contained. Once the scope is closing it is never started.
   */
  setTimer(ms: number, fn: () => void): TimerHandle {
    if (this.closed) return INERT;
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(timer);
      this.#run(fn);
    }, ms);
    return this.#own(timer);
  }

  /** An interval, owned like `setTimer`'s timers. */
  setInterval(ms: number, fn: () => void): TimerHandle {
    if (this.closed) return INERT;
    return this.#own(this.#clock.setInterval(() => this.#run(fn), ms));
  }

  /** Clears a timer or interval the scope handed out (undefined or already run: nothing happens). */
  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle || !this.#timers.delete(handle)) return;
    this.#clock.clearTimeout(handle);
    this.#clock.clearInterval(handle);
  }

  #own(timer: TimerHandle): TimerHandle {
    timer.unref();
    this.#timers.add(timer);
    return timer;
  }

  #run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err }, 'call timer failed');
      this.#onFailure(err);
    }
  }

  /** Idempotent. Resolves when cleanups ran and tasks settled, or after `timeoutMs`. */
  close(reason: string, timeoutMs = 5_000): Promise<void> {
    if (!this.#closed) {
      this.#closed = true; // before the cleanups run (the first runs synchronously in #shutdown)
      this.#closing = this.#shutdown(reason, timeoutMs);
    }
    return this.#closing as Promise<void>;
  }

  async #shutdown(reason: string, timeoutMs: number): Promise<void> {
    this.#controller.abort(new Error(reason));
    for (const timer of [...this.#timers]) this.clearTimer(timer);
    for (const cleanup of [...this.#cleanups.reverse(), ...this.#lastCleanups.reverse()]) {
      try {
        await cleanup();
      } catch (err) {
        this.#log.error({ err }, 'call cleanup failed');
      }
    }
    if (this.#tasks.size === 0) return;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const outcome = await Promise.race([Promise.allSettled([...this.#tasks]), timedOut]);
    this.#clock.clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#log.warn({ pending: this.#tasks.size, timeoutMs }, 'call tasks did not stop in time');
    }
  }
}

/** What a closed scope hands out for a timer: it never runs, and clearing it does nothing. */
const INERT: TimerHandle = Object.freeze({ unref: () => undefined });
