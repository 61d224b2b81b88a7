import type { AudioFrame } from '../audio/frame.js';

/**
 * Copies of a leg's recent frames (PCM and μ-law) in preallocated rings, oldest first: the VAD's
 * pre-roll. Each frame is stored contiguously (the ring wastes a tail rather than split one), so
 * a released frame is a view, and holding silence allocates nothing.
 */
export class FrameRing {
  readonly #pcm: Int16Array;
  readonly #mulaw: Uint8Array;
  readonly #start: Int32Array;
  readonly #length: Int32Array;
  readonly #startMs: Float64Array;
  readonly #durationMs: Float64Array;
  readonly #filled: Uint8Array;
  #first = 0;
  #count = 0;

  constructor(capacityMs: number) {
    this.#pcm = new Int16Array(Math.ceil(capacityMs * 16));
    this.#mulaw = new Uint8Array(this.#pcm.length / 2);
    const slots = Math.ceil(capacityMs / 5); // frames are 20 ms; room for shorter ones
    this.#start = new Int32Array(slots);
    this.#length = new Int32Array(slots);
    this.#startMs = new Float64Array(slots);
    this.#durationMs = new Float64Array(slots);
    this.#filled = new Uint8Array(slots);
  }

  get length(): number {
    return this.#count;
  }

  /** Copies the frame in; false when there is no room (the caller must release first). */
  push(frame: AudioFrame): boolean {
    const n = frame.pcm.length;
    const at = this.#placeFor(n);
    if (at === undefined || this.#count === this.#start.length) return false;
    const slot = (this.#first + this.#count) % this.#start.length;
    this.#pcm.set(frame.pcm, at);
    this.#mulaw.set(frame.mulaw, at / 2);
    this.#start[slot] = at;
    this.#length[slot] = n;
    this.#startMs[slot] = frame.startMs;
    this.#durationMs[slot] = frame.durationMs;
    this.#filled[slot] = frame.filled ? 1 : 0;
    this.#count++;
    return true;
  }

  /** Call-clock start of the oldest frame, or undefined when empty. */
  oldestStartMs(): number | undefined {
    return this.#count === 0 ? undefined : this.#startMs[this.#first];
  }

  /** Call-clock end of the oldest frame, or undefined when empty. */
  oldestEndMs(): number | undefined {
    if (this.#count === 0) return undefined;
    return this.#startMs[this.#first] + this.#durationMs[this.#first];
  }

  /** Removes the oldest frame, handing it (as views valid until the next push) to `use`. */
  shift(leg: string, use?: (frame: AudioFrame) => void): number {
    const slot = this.#first;
    const at = this.#start[slot];
    const n = this.#length[slot];
    const durationMs = this.#durationMs[slot];
    use?.({
      leg,
      pcm: this.#pcm.subarray(at, at + n),
      mulaw: this.#mulaw.subarray(at / 2, (at + n) / 2),
      startMs: this.#startMs[slot],
      durationMs,
      filled: this.#filled[slot] === 1,
    });
    this.#first = (this.#first + 1) % this.#start.length;
    this.#count--;
    return durationMs;
  }

  /** Where `n` samples fit contiguously after the newest frame, or undefined. Starts are even. */
  #placeFor(n: number): number | undefined {
    const size = this.#pcm.length;
    if (this.#count === 0) {
      this.#first = 0;
      return n <= size ? 0 : undefined;
    }
    const newest = (this.#first + this.#count - 1) % this.#start.length;
    const end = this.#start[newest] + this.#length[newest];
    const oldest = this.#start[this.#first];
    if (end > oldest) {
      // Free space is [end, size) then [0, oldest).
      if (end + n <= size) return end;
      return n <= oldest ? 0 : undefined;
    }
    // Wrapped: free space is [end, oldest).
    return end + n <= oldest ? end : undefined;
  }
}
