import { designPolyphase, type PolyphaseKernel } from './resample.js';

/**
 * Streaming rational resampler for a live leg at a rate the half-band converters don't cover
 * (AudioSocket's 12, 24, 32, 44.1, 48, 96 and 192 kHz kinds → 16 kHz). Same filter as the
 * one-shot `resample`, made causal: output n is the filtered signal at input instant
 * n × from/to − halfSpan, so every output needs only input already received, and a 20 ms chunk in
 * gives exactly 20 ms out (320 samples at 16 kHz for every AudioSocket rate). The price is a fixed
 * delay of `halfSpan` input samples (2.2 ms at 48 kHz), which the leg ignores as it ignores the
 * upsampler's. Chunked output equals one-shot output of the same causal filter.
 */
export class StreamResampler {
  readonly #k: PolyphaseKernel;
  /** Input from absolute index `#bufStart`; starts with `width − 1` zeros of history. */
  #buf: Float64Array;
  #bufStart: number;
  #bufLength: number;
  /** Input samples received, and output samples produced. */
  #inCount = 0;
  #outCount = 0;

  constructor(fromHz: number, toHz: number) {
    this.#k = designPolyphase(fromHz, toHz);
    const history = this.#k.width - 1;
    this.#buf = new Float64Array(history + 4096);
    this.#bufStart = -history;
    this.#bufLength = history;
  }

  /** Input samples' worth of delay the filter adds. */
  get delaySamples(): number {
    return this.#k.halfSpan;
  }

  push(pcm: Int16Array): Int16Array {
    const { up, down, width, taps } = this.#k;
    this.#append(pcm);
    this.#inCount += pcm.length;
    // Output n uses inputs up to floor(n·down/up): all n with n·down < inCount·up are ready.
    const ready = Math.ceil((this.#inCount * up) / down);
    const out = new Int16Array(ready - this.#outCount);
    const b = this.#buf;
    for (let k = 0; k < out.length; k++) {
      const n = this.#outCount + k;
      const position = n * down;
      const newest = Math.floor(position / up);
      const offset = (position % up) * width;
      const first = newest - width + 1 - this.#bufStart;
      let acc = 0;
      for (let j = 0; j < width; j++) acc += taps[offset + j] * b[first + j];
      out[k] = acc >= 32767 ? 32767 : acc <= -32768 ? -32768 : Math.round(acc);
    }
    this.#outCount = ready;
    this.#trim();
    return out;
  }

  #append(pcm: Int16Array): void {
    if (this.#bufLength + pcm.length > this.#buf.length) {
      const grown = new Float64Array(2 * (this.#bufLength + pcm.length));
      grown.set(this.#buf.subarray(0, this.#bufLength));
      this.#buf = grown;
    }
    const b = this.#buf;
    for (let i = 0; i < pcm.length; i++) b[this.#bufLength + i] = pcm[i];
    this.#bufLength += pcm.length;
  }

  /** Keeps only the history the next output needs. */
  #trim(): void {
    const { up, down, width } = this.#k;
    const nextNewest = Math.floor((this.#outCount * down) / up);
    const keepFrom = nextNewest - width + 1;
    const drop = keepFrom - this.#bufStart;
    if (drop <= 0) return;
    this.#buf.copyWithin(0, drop, this.#bufLength);
    this.#bufLength -= drop;
    this.#bufStart = keepFrom;
  }
}
