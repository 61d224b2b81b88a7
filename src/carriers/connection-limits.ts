/** How many TCP connections an edge holds: in all, and from one source address. */
export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly maxPerSource: number;
}

export type ConnectionRefusal = 'tcp_too_many_connections' | 'tcp_too_many_from_source';

/**
 * Counts an edge's open TCP connections so a flood of idle ones cannot take every file
 * descriptor (and with them /healthz, media streams and every other edge).
 */
export class ConnectionCounter {
  readonly #limits: ConnectionLimits;
  readonly #perSource = new Map<string, number>();
  #open = 0;

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  get open(): number {
    return this.#open;
  }

  /** Takes a slot for `address`, or says why not (then nothing was taken). */
  take(address: string): ConnectionRefusal | undefined {
    const fromSource = this.#perSource.get(address) ?? 0;
    if (this.#open >= this.#limits.maxConnections) return 'tcp_too_many_connections';
    if (fromSource >= this.#limits.maxPerSource) return 'tcp_too_many_from_source';
    this.#open++;
    this.#perSource.set(address, fromSource + 1);
    return undefined;
  }

  /** Gives back a slot `take` gave. */
  release(address: string): void {
    this.#open--;
    const left = (this.#perSource.get(address) ?? 1) - 1;
    if (left > 0) this.#perSource.set(address, left);
    else this.#perSource.delete(address);
  }
}
