/** What the reorder step did to a stream, for the call's media stats. */
export interface ReorderStats {
  /** Messages overtaken on the way (one numbered later came first): put back in their place. */
  readonly reordered: number;
  /** Messages that arrived after their place was given up: dropped. */
  readonly late: number;
  /** Messages whose sequence number was already held or recently delivered: dropped. */
  readonly duplicates: number;
  /** Sequence numbers never seen by the time the window gave up on them. */
  readonly missing: number;
}

const RECENT = 64;

/**
 * Puts a stream's messages back in sequence_number order (Telnyx: "media frame order is not
 * guaranteed"). At most `window` messages wait behind a missing one; one more and the missing
 * number is given up (counted), so a lost frame costs at most `window` messages of delay and the
 * held messages never grow past `window + 1`. What arrives after its place has passed is dropped.
 */
export class SequenceReorder<T> {
  readonly #window: number;
  readonly #deliver: (item: T) => void;
  readonly #held = new Map<number, T>();
  #next: number | undefined;
  /** The last RECENT numbers delivered, to tell a repeat from a late arrival (a ring). */
  readonly #recent = new Float64Array(RECENT).fill(-1);
  #recentAt = 0;
  #stats = { reordered: 0, late: 0, duplicates: 0, missing: 0 };

  constructor(window: number, deliver: (item: T) => void) {
    this.#window = Math.max(0, Math.floor(window));
    this.#deliver = deliver;
  }

  /** The sequence number the next delivery must carry (undefined before the first). */
  get next(): number | undefined {
    return this.#next;
  }

  /** Starts counting after `sequence` (the start message's), so the first media is expected next. */
  startAfter(sequence: number): void {
    this.#next ??= sequence + 1;
  }

  /** Messages waiting behind a missing one (at most `window` between pushes). */
  get held(): number {
    return this.#held.size;
  }

  get stats(): ReorderStats {
    return { ...this.#stats };
  }

  push(sequence: number, item: T): void {
    this.#next ??= sequence;
    if (sequence < this.#next) {
      if (this.#recent.includes(sequence)) this.#stats.duplicates++;
      else this.#stats.late++;
      return;
    }
    if (this.#held.has(sequence)) {
      this.#stats.duplicates++;
      return;
    }
    if (sequence === this.#next && this.#held.size > 0) this.#stats.reordered++;
    this.#held.set(sequence, item);
    this.#drain();
    while (this.#held.size > this.#window) this.#skipToOldest();
  }

  /** The stream is over: what is held goes out in order, the numbers between counted missing. */
  flush(): void {
    while (this.#held.size > 0) this.#skipToOldest();
  }

  #skipToOldest(): void {
    const oldest = Math.min(...this.#held.keys());
    this.#stats.missing += oldest - (this.#next ?? oldest);
    this.#next = oldest;
    this.#drain();
  }

  #drain(): void {
    let next = this.#next as number;
    for (let item = this.#held.get(next); item !== undefined; item = this.#held.get(next)) {
      this.#held.delete(next);
      this.#recent[this.#recentAt] = next;
      this.#recentAt = (this.#recentAt + 1) % RECENT;
      next++;
      this.#next = next;
      this.#deliver(item);
    }
  }
}
