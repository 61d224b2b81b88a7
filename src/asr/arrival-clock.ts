/**
 * Remembers when (wall clock) the audio up to each call-clock instant arrived, for the last few
 * seconds, so transcript latency can be measured as "audio time → event time".
 */
export class ArrivalClock {
  readonly #callMs: Float64Array;
  readonly #wallMs: Float64Array;
  #next = 0;
  #size = 0;

  constructor(capacity = 512) {
    this.#callMs = new Float64Array(capacity);
    this.#wallMs = new Float64Array(capacity);
  }

  /** Audio ending at `callMs` arrived at `wallMs` (performance.now()). */
  record(callMs: number, wallMs: number): void {
    this.#callMs[this.#next] = callMs;
    this.#wallMs[this.#next] = wallMs;
    this.#next = (this.#next + 1) % this.#callMs.length;
    if (this.#size < this.#callMs.length) this.#size++;
  }

  /** When the audio at `callMs` arrived, or undefined when that is no longer remembered. */
  arrivalOf(callMs: number): number | undefined {
    const capacity = this.#callMs.length;
    for (let i = 1; i <= this.#size; i++) {
      const slot = (this.#next - i + capacity) % capacity;
      const previous = i < this.#size ? this.#callMs[(slot - 1 + capacity) % capacity] : -Infinity;
      if (this.#callMs[slot] >= callMs && previous < callMs) return this.#wallMs[slot];
    }
    return undefined;
  }
}
