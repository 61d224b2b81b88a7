import type { EndpointHealth } from './stt.js';

interface Endpoint {
  readonly url: string;
  state: EndpointHealth['state'];
  detail: string | undefined;
  active: number;
  /** Set on a failure; the endpoint is avoided until this time unless nothing else is left. */
  avoidUntil: number;
}

const AVOID_AFTER_FAILURE_MS = 10_000;

/**
 * Replicas of one engine. Legs go to the least busy healthy replica; a replica that fails a
 * connection or a probe is avoided for a while, and legs on it fail over to the others.
 */
export class EndpointPool {
  readonly #endpoints: Endpoint[];
  readonly #now: () => number;

  constructor(urls: readonly string[], now: () => number = () => performance.now()) {
    if (urls.length === 0) throw new Error('an endpoint pool needs at least one URL');
    this.#endpoints = urls.map((url) => ({
      url,
      state: 'unknown',
      detail: undefined,
      active: 0,
      avoidUntil: 0,
    }));
    this.#now = now;
  }

  /** Takes a slot on the best replica, preferring any other than `avoid` (the one that just failed). */
  acquire(avoid?: string): string {
    const now = this.#now();
    const rank = (e: Endpoint) =>
      (e.state === 'wrong_model' ? 4 : 0) +
      (e.avoidUntil > now || e.state === 'down' ? 2 : 0) +
      (e.url === avoid && this.#endpoints.length > 1 ? 1 : 0);
    let best = this.#endpoints[0];
    for (const e of this.#endpoints) {
      const better = rank(e) < rank(best) || (rank(e) === rank(best) && e.active < best.active);
      if (better) best = e;
    }
    best.active++;
    return best.url;
  }

  release(url: string): void {
    const e = this.#find(url);
    if (e && e.active > 0) e.active--;
  }

  markUp(url: string): void {
    const e = this.#find(url);
    if (!e) return;
    e.state = 'up';
    e.detail = undefined;
    e.avoidUntil = 0;
  }

  markDown(url: string, detail: string, state: 'down' | 'wrong_model' = 'down'): void {
    const e = this.#find(url);
    if (!e) return;
    e.state = state;
    e.detail = detail;
    e.avoidUntil = this.#now() + AVOID_AFTER_FAILURE_MS;
  }

  health(): EndpointHealth[] {
    return this.#endpoints.map((e) => ({
      url: e.url,
      state: e.state,
      ...(e.detail ? { detail: e.detail } : {}),
      activeStreams: e.active,
    }));
  }

  get urls(): string[] {
    return this.#endpoints.map((e) => e.url);
  }

  #find(url: string): Endpoint | undefined {
    return this.#endpoints.find((e) => e.url === url);
  }
}
