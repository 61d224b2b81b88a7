import { backoffDelay } from '../asr/backoff.js';
import type { Clock } from '../clock.js';
import { isVoxlineError } from '../errors.js';

export interface RetryPolicy {
  /** Tries after the first. */
  readonly retries: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly clock: Clock;
  readonly random?: () => number;
}

/** How a run of tries ended: its result, or the last error and how many tries it took. */
export class RetriesExhausted extends Error {
  readonly attempts: number;
  constructor(cause: unknown, attempts: number) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'RetriesExhausted';
    this.attempts = attempts;
  }
}

/**
 * Runs `attempt` until it succeeds, retrying only a VoxlineError whose code is retryable
 * (`retryable(code)`), after the engine's Retry-After where it gave one, else exponential backoff
 * with jitter, on the injected clock. Gives up with RetriesExhausted (its cause the last error)
 * after `retries` retries, at once for an error that is not worth retrying, or when `signal` aborts.
 */
export async function withRetries<T>(
  attempt: (signal: AbortSignal) => Promise<T>,
  retryable: (err: unknown) => boolean,
  policy: RetryPolicy,
  signal: AbortSignal,
  onRetry?: (err: unknown, delayMs: number) => void,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(signal);
    } catch (err) {
      if (signal.aborted || n >= policy.retries || !retryable(err)) throw new RetriesExhausted(err, n + 1);
      const after = isVoxlineError(err) ? err.retryAfterS : undefined;
      const delay =
        after !== undefined
          ? Math.min(after * 1000, policy.maxMs)
          : backoffDelay(n, policy.baseMs, policy.maxMs, policy.random);
      onRetry?.(err, delay);
      await sleep(policy.clock, delay, signal);
      if (signal.aborted) throw new RetriesExhausted(err, n + 1);
    }
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
