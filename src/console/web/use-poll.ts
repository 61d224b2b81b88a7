import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  /** Load again now (after an action). */
  readonly reload: () => void;
}

/** Loads `load()` now and every `everyMs` while the page shows it (and `active`), keeping the last answer. */
export function usePoll<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: unknown[],
  active = true,
): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const run = async () => {
      try {
        const value = await load();
        if (stopped) return;
        setData(value);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
      }
      if (!stopped && active) timer = window.setTimeout(run, everyMs);
    };
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [...deps, tick, active]);
  return { data, error, reload: () => setTick((n) => n + 1) };
}
