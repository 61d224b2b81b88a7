/**
 * How loud a line about a peer's misbehaviour may be: the first `perWindow` lines of a kind in
 * each window are warnings, the rest debug, so nobody who can reach a port can flood the log.
 * Counted in a fixed set of kinds (the caller's names), never per peer.
 */
export class LogBudget {
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #spent = new Map<string, { since: number; lines: number }>();

  constructor(perWindow: number, windowMs: number, now: () => number = Date.now) {
    this.#perWindow = perWindow;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  level(kind: string): 'warn' | 'debug' {
    const now = this.#now();
    let spent = this.#spent.get(kind);
    if (!spent || now - spent.since >= this.#windowMs) {
      spent = { since: now, lines: 0 };
      this.#spent.set(kind, spent);
    }
    spent.lines++;
    return spent.lines <= this.#perWindow ? 'warn' : 'debug';
  }
}
