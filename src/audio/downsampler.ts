import { pcmToMulaw } from './g711.js';
import { designHalfbandPhase, HALF_TAPS } from './halfband.js';

const TAPS = designHalfbandPhase();
const SPAN = 2 * HALF_TAPS - 2; // 62: input samples behind the newest one that the filter reaches
const PAIRS = HALF_TAPS / 2;

/** Delay of the downsampler in 16 kHz input samples (1.875 ms). */
export const DOWNSAMPLER_DELAY_16K = HALF_TAPS - 2;

/**
 * Streaming 16 kHz → 8 kHz converter with the same half-band filter as the upsampler (±0.01 dB
 * to 3.4 kHz, ≥ 68 dB alias rejection above 4.6 kHz; measured in test/audio/downsampler.test.ts). Used for audio voxline sends into a call.
 * Keeps history (and an odd leftover sample) between calls: chunked output equals one-shot output.
 */
export class Downsampler16to8 {
  #buf = new Float64Array(SPAN + 1024);
  /** Unconsumed input samples after the history. */
  #pending = 0;

  pushPcm(pcm: Int16Array): Int16Array {
    const start = SPAN + this.#pending;
    if (start + pcm.length > this.#buf.length) {
      const grown = new Float64Array(start + pcm.length);
      grown.set(this.#buf.subarray(0, start));
      this.#buf = grown;
    }
    const b = this.#buf;
    for (let i = 0; i < pcm.length; i++) b[start + i] = pcm[i];
    const available = this.#pending + pcm.length;
    const count = available >> 1;
    const out = new Int16Array(count);
    for (let m = 0; m < count; m++) {
      // Output m is centred on input sample 2m + 32 (the half-band centre tap, weight ½).
      const base = 2 * m;
      let acc = 0;
      for (let i = 0; i < PAIRS; i++) acc += TAPS[i] * (b[base + 63 - 2 * i] + b[base + 1 + 2 * i]);
      out[m] = Math.max(-32768, Math.min(32767, Math.round(0.5 * b[base + 32] + 0.5 * acc)));
    }
    const consumed = 2 * count;
    b.copyWithin(0, consumed, SPAN + available);
    this.#pending = available - consumed;
    return out;
  }

  /** PCM16 at 16 kHz in, μ-law at 8 kHz out: what a Twilio `media` message carries. */
  pushPcmToMulaw(pcm: Int16Array): Uint8Array {
    return pcmToMulaw(this.pushPcm(pcm));
  }
}
