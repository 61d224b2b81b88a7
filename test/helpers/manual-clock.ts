import type { Clock, TimerHandle } from '../../src/clock.js';

interface Pending {
  readonly id: number;
  at: number;
  readonly every: number | undefined;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A Clock that moves only when the test says so. `advance(ms)` runs every timer that falls due,
 * in time order (ties in the order they were set), with `now()` at each timer's own time, and
 * lets promise callbacks settle between timers (so work a timer starts runs before the next).
 */
export class ManualClock implements Clock {
  #now: number;
  #wallOffset: number;
  #nextId = 0;
  readonly #timers = new Map<number, Pending>();

  constructor(startMs = 0, wallStartMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
    this.#wallOffset = wallStartMs - startMs;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#now + this.#wallOffset;
  }

  /** Timers not yet run or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    const timer = handle ? this.#timers.get((handle as ManualHandle).id) : undefined;
    if (!timer) return;
    timer.cancelled = true;
    this.#timers.delete(timer.id);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Moves time forward by `ms`, running what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await settle();
      const next = this.#due(until);
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      if (next.every === undefined) this.#timers.delete(next.id);
      else next.at += next.every;
      next.fn();
    }
    this.#now = until;
    await settle();
  }

  /**
   * Moves time forward by `ms` without running anything: an event loop that was blocked. Timers
   * that fell due meanwhile run, late, on the next `advance` (with `now()` where time has got to).
   */
  stall(ms: number): void {
    this.#now += ms;
  }

  #due(until: number): Pending | undefined {
    let first: Pending | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.at > until) continue;
      if (!first || timer.at < first.at || (timer.at === first.at && timer.id < first.id)) first = timer;
    }
    return first;
  }

  #add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const id = ++this.#nextId;
    const at = this.#now + Math.max(0, ms);
    this.#timers.set(id, { id, at, every, fn, cancelled: false });
    return new ManualHandle(id);
  }
}

class ManualHandle implements TimerHandle {
  constructor(readonly id: number) {}
  unref(): void {}
}

/** Lets queued promise callbacks (and what they queue) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
