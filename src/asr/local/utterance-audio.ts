/**
 * One utterance's 16 kHz audio as floats, growing as it is spoken, for the generation that reads
 * it: `until()` waits for more audio, the end of speech, or a cancel. Grows by doubling (one
 * allocation per doubling, not one per frame).
 */
export class UtteranceAudio {
  #audio = new Float32Array(16_000);
  #length = 0;
  #ended = false;
  #cancelled = false;
  #wake: (() => void) | undefined;

  get length(): number {
    return this.#length;
  }

  /** No more speech comes (the generation pads with silence and finishes). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The generation should stop now (its leg closed). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  append(samples: Float32Array): void {
    this.#ensure(samples.length);
    this.#audio.set(samples, this.#length);
    this.#length += samples.length;
    this.#notify();
  }

  /** Silence at the end: what lets the model's delayed last words come out. */
  padWithSilence(samples: number): void {
    this.#ensure(samples);
    this.#audio.fill(0, this.#length, this.#length + samples);
    this.#length += samples;
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  cancel(): void {
    this.#cancelled = true;
    this.#notify();
  }

  /** A view of samples [start, end): valid until the next append. */
  view(start: number, end: number): Float32Array {
    return this.#audio.subarray(start, end);
  }

  /** Resolves once `ready()` holds, or speech ended, or the generation was cancelled. */
  until(ready: () => boolean): Promise<void> {
    if (ready() || this.#ended || this.#cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = () => {
        if (!ready() && !this.#ended && !this.#cancelled) return;
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #notify(): void {
    this.#wake?.();
  }

  #ensure(extra: number): void {
    if (this.#length + extra <= this.#audio.length) return;
    let size = this.#audio.length * 2;
    while (size < this.#length + extra) size *= 2;
    const grown = new Float32Array(size);
    grown.set(this.#audio.subarray(0, this.#length));
    this.#audio = grown;
  }
}
