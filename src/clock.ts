/** A timer handle a Clock hands out; only its clock can clear it. */
export interface TimerHandle {
  /** Lets the process exit while the timer is pending (Node's unref). */
  unref(): void;
}

/**
 * Time as the gateway sees it: passed in, never read from globals inside modules, so tests drive
 * it (test/helpers/manual-clock.ts) instead of sleeping on the wall clock.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (performance.now() on the system clock). */
  now(): number;
  /** Milliseconds since the Unix epoch (for timestamps that leave the process). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** The real clock: Node's timers and performance.now(). */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  setInterval: (fn: () => void, ms: number) => setInterval(fn, ms),
  clearTimeout: (handle: TimerHandle | undefined) =>
    clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
  clearInterval: (handle: TimerHandle | undefined) =>
    clearInterval(handle as ReturnType<typeof setInterval> | undefined),
});
