import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from '../api.js';

/** Asked this many times, this far apart, while the server says "not ready"; then the page says none. */
export const NOT_READY_ATTEMPTS = 8;
export const NOT_READY_EVERY_MS = 2_500;

export type PostcallDocument<T> =
  | { readonly state: 'waiting' }
  | { readonly state: 'ready'; readonly value: T }
  /** Still not ready after every attempt: post-call is off, or it failed, or it is slow. */
  | { readonly state: 'none' }
  | { readonly state: 'error'; readonly message: string };

/**
 * A document made after the call (the refined transcript, the analysis): loaded from `path` once
 * there is one, asked again while the server answers 404 with `notReadyCode`, a few times only
 * (once when the server says it makes none).
 * `retry()` starts the attempts over (after "none" or an error).
 */
export function usePostcallDocument<T>(
  path: string | undefined,
  notReadyCode: string,
  /** The server makes such documents (post-call is on): else one look, for one made before. */
  enabled = true,
): PostcallDocument<T> & { readonly retry: () => void } {
  const [current, setCurrent] = useState<PostcallDocument<T>>({ state: 'waiting' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (!path) return;
    let stopped = false;
    let timer: number | undefined;
    setCurrent({ state: 'waiting' });
    const ask = async (attempt: number) => {
      try {
        const value = await getJson<T>(path);
        if (!stopped) setCurrent({ state: 'ready', value });
      } catch (err) {
        if (stopped) return;
        const notReady = err instanceof ApiError && err.status === 404 && err.code === notReadyCode;
        if (!notReady) setCurrent({ state: 'error', message: describe(err) });
        else if (attempt >= (enabled ? NOT_READY_ATTEMPTS : 1)) setCurrent({ state: 'none' });
        else timer = window.setTimeout(() => void ask(attempt + 1), NOT_READY_EVERY_MS);
      }
    };
    void ask(1);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [path, notReadyCode, round, enabled]);
  return { ...current, retry: () => setRound((n) => n + 1) };
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
