import type { SessionGate, SessionHolder } from '../realtime-stream.js';

/**
 * A cap on the Mistral sessions this process holds open at once (MISTRAL_MAX_SESSIONS). A stream
 * takes a slot before it connects; past the cap it waits, oldest first, and a stream holding a
 * session between utterances is asked to give it back (it does once its session has carried an
 * utterance, or when it has nothing to send), so waiting legs get a turn within about one
 * utterance of each leg ahead of them. Nothing queues but the waiting streams themselves, at most
 * one entry per live leg.
 */
export class SessionSlots implements SessionGate {
  readonly max: number;
  readonly #holders = new Set<SessionHolder>();
  /** In the order they asked (a Set iterates in insertion order). */
  readonly #waiting = new Set<SessionHolder>();
  /** Holders whose socket is closing: their slots come free without asking anyone. */
  readonly #closing = new Set<SessionHolder>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`session slots: max must be ≥ 1 (got ${max})`);
    this.max = max;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  get contended(): boolean {
    return this.#waiting.size > this.#closing.size;
  }

  get inUse(): number {
    return this.#holders.size;
  }

  acquire(holder: SessionHolder): void {
    if (this.#holders.has(holder) || this.#waiting.has(holder)) return;
    if (this.#holders.size < this.max) {
      this.#holders.add(holder);
      holder.granted();
      return;
    }
    this.#waiting.add(holder);
    if (!this.contended) return; // a closing socket's slot comes free soon
    // One idle holder is enough: its slot goes to the oldest waiter.
    for (const h of [...this.#holders]) {
      if (!this.#closing.has(h) && h.yieldIfIdle()) break;
    }
  }

  closing(holder: SessionHolder): void {
    if (this.#holders.has(holder)) this.#closing.add(holder);
  }

  release(holder: SessionHolder): void {
    if (this.#waiting.delete(holder)) return;
    this.#closing.delete(holder);
    if (!this.#holders.delete(holder)) return;
    while (this.#holders.size < this.max) {
      const next = this.#waiting.values().next();
      if (next.done) return;
      this.#waiting.delete(next.value);
      this.#holders.add(next.value);
      next.value.granted();
    }
  }
}
