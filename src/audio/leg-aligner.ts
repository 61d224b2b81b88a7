/**
 * Puts one leg's packets back on its timeline using the carrier's timestamps, not arrival order.
 *
 * Positions and lengths are in samples at the carrier rate (8 kHz for G.711: 8 per ms); a
 * payload is one array element per sample (G.711 bytes, or PCM16). In-order packets pass straight through with no copy and no delay. A packet that leaves
 * a gap waits until `reorderWindow` samples of audio are queued behind the gap (the missing packet
 * may still arrive out of order); then the gap is filled with silence, or skipped when it is
 * longer than `maxFill`. Late and duplicate packets are dropped, and so is a packet whose position
 * is not a whole sample within ±MAX_POSITION (a carrier bug or a hostile stream). Every sample
 * filled, skipped or dropped is counted: nothing disappears silently.
 *
 * The timeline starts at the earliest packet seen once the first window has queued, so a leg whose
 * first packets arrive out of order still starts at the right place.
 */

/** One element per sample. */
export type SampleArray = Uint8Array | Int16Array;

/**
 * Farthest a position may be from 0, in samples: 2^40 is over 265 days at 48 kHz, so nothing real
 * comes near it, and every position and sum of positions stays an exact integer in a double.
 */
export const MAX_POSITION = 2 ** 40;

/** True for a position the aligner takes: a whole number of samples within ±MAX_POSITION. */
export function isValidPosition(start: number): boolean {
  return Number.isInteger(start) && Math.abs(start) <= MAX_POSITION;
}

export interface AlignerOutput<T extends SampleArray> {
  audio(start: number, payload: T): void;
  gap(start: number, length: number): void;
  /** The timeline jumps over [start, start + length) (longer than `maxFill`); the next audio is at its end. */
  skip?(start: number, length: number): void;
}

export interface AlignerOptions {
  /** Samples of later audio queued before a gap is given up on (0 = never wait). */
  reorderWindow: number;
  /** Longest gap filled with silence; longer ones are skipped (the timeline jumps). */
  maxFill: number;
  /** Most packets held at once; beyond it the oldest gap is released early. */
  maxQueued: number;
  /**
   * Most samples that may have been filled in all by now (the owner ties it to elapsed time);
   * a gap that would pass it is skipped instead. Unbounded when absent.
   */
  fillAllowance?: () => number;
}

export interface AlignerCounts {
  /** Packets that were on time. */
  packets: number;
  /** Samples passed on as real audio. */
  samples: number;
  /** Packets that arrived after a later packet and were put back in place. */
  reordered: number;
  /** Samples of silence inserted for packets that never came. */
  filledSamples: number;
  /** Samples of timeline skipped because the gap exceeded `maxFill`. */
  skippedSamples: number;
  /** Packets dropped whole: duplicates or too late. */
  droppedPackets: number;
  /** Samples dropped: duplicate, late, or overlapping audio already passed on. */
  droppedSamples: number;
  /** Packets refused for a position out of range (see isValidPosition); also in `droppedPackets`. */
  badTimestamps: number;
}

interface Queued<T> {
  start: number;
  payload: T;
}

export class LegAligner<T extends SampleArray = Uint8Array> {
  readonly counts: AlignerCounts = {
    packets: 0,
    samples: 0,
    reordered: 0,
    filledSamples: 0,
    skippedSamples: 0,
    droppedPackets: 0,
    droppedSamples: 0,
    badTimestamps: 0,
  };
  /** Position of the next sample expected; undefined until the timeline starts. */
  #next: number | undefined;
  #queue: Queued<T>[] = [];
  #queuedSamples = 0;
  readonly #options: AlignerOptions;
  readonly #out: AlignerOutput<T>;

  constructor(options: AlignerOptions, out: AlignerOutput<T>) {
    this.#options = options;
    this.#out = out;
  }

  /** Where the timeline has got to (the next expected sample), or undefined before it starts. */
  get position(): number | undefined {
    return this.#next;
  }

  push(start: number, payload: T): void {
    if (payload.length === 0) return;
    if (!isValidPosition(start)) {
      // Refused here, before it can stall the queue (NaN compares to nothing) or become a jump.
      this.counts.badTimestamps++;
      this.#drop(payload.length);
      return;
    }
    const next = this.#next;
    if (next !== undefined && this.#queue.length === 0) {
      if (start === next) {
        this.#emit(start, payload);
        return;
      }
      if (start + payload.length <= next) {
        this.#drop(payload.length);
        return;
      }
    }
    this.#enqueue(start, payload);
    this.#release(false);
  }

  /** Releases everything held (end of stream): gaps between held packets are filled or skipped. */
  flush(): void {
    this.#release(true);
  }

  #enqueue(start: number, payload: T): void {
    const queue = this.#queue;
    let i = queue.length;
    while (i > 0 && queue[i - 1].start > start) i--;
    if (i > 0 && queue[i - 1].start === start) {
      this.#drop(payload.length); // duplicate of a packet already waiting
      return;
    }
    if (i < queue.length) this.counts.reordered++;
    queue.splice(i, 0, { start, payload });
    this.#queuedSamples += payload.length;
  }

  #release(force: boolean): void {
    const queue = this.#queue;
    while (queue.length > 0) {
      const head = queue[0];
      const waitOver =
        force || this.#queuedSamples >= this.#options.reorderWindow || queue.length > this.#options.maxQueued;
      if (this.#next === undefined) {
        if (!waitOver) return;
        this.#next = head.start;
      }
      const next = this.#next;
      const end = head.start + head.payload.length;
      if (end <= next) {
        this.#dequeue();
        this.#drop(head.payload.length);
      } else if (head.start < next) {
        // Overlaps audio already passed on: keep only the new tail.
        this.#dequeue();
        this.counts.droppedSamples += next - head.start;
        this.#emit(next, head.payload.subarray(next - head.start) as T);
      } else if (head.start === next) {
        this.#dequeue();
        this.#emit(head.start, head.payload);
      } else if (waitOver) {
        const gap = head.start - next;
        const allowed = this.#options.fillAllowance?.() ?? Number.POSITIVE_INFINITY;
        if (gap <= this.#options.maxFill && this.counts.filledSamples + gap <= allowed) {
          this.counts.filledSamples += gap;
          this.#out.gap(next, gap);
        } else {
          this.counts.skippedSamples += gap;
          this.#out.skip?.(next, gap);
        }
        this.#next = head.start;
      } else {
        return;
      }
    }
  }

  #dequeue(): void {
    const head = this.#queue.shift();
    if (head) this.#queuedSamples -= head.payload.length;
  }

  #emit(start: number, payload: T): void {
    this.counts.packets++;
    this.counts.samples += payload.length;
    this.#next = start + payload.length;
    this.#out.audio(start, payload);
  }

  #drop(samples: number): void {
    this.counts.droppedPackets++;
    this.counts.droppedSamples += samples;
  }
}
