import type { AudioFrame } from '../audio/frame.js';
import { SAMPLES_PER_MS_8K } from '../audio/frame.js';
import { type AlignerOptions, LegAligner } from '../audio/leg-aligner.js';
import { Upsampler8to16 } from '../audio/upsampler.js';
import type { LegSpec } from '../carriers/carrier.js';

/** Whatever takes a leg's audio: a speech engine, a recorder, a test tap. */
export interface LegConsumer {
  /**
   * Called synchronously on the media path: must not block; buffer (bounded) and return.
   * `frame.pcm` is lent for this call only (see AudioFrame): copy what you keep.
   */
  push(frame: AudioFrame): void;
  /** The leg has ended; no more frames. */
  end(): void;
}

export interface LegStats {
  readonly label: string;
  readonly track: string;
  /** Media messages received for this leg. */
  readonly framesReceived: number;
  /** Real audio passed on, in seconds. */
  readonly audioSeconds: number;
  readonly gapFilledMs: number;
  readonly skippedMs: number;
  /** Packets dropped as duplicate or too late. */
  readonly framesDropped: number;
  readonly droppedMs: number;
  readonly reordered: number;
  /** End of the leg's timeline on the call clock, in ms. */
  readonly positionMs: number | null;
}

const FILL_CHUNK_SAMPLES = 160; // fill gaps in 20 ms frames, like real audio
const MULAW_SILENCE = new Uint8Array(FILL_CHUNK_SAMPLES).fill(0xff);

/**
 * One leg of a call: carrier audio (μ-law 8 kHz, carrier timestamps) in; aligned 16 kHz
 * AudioFrames out to its consumers.
 */
export class Leg {
  readonly label: string;
  readonly track: string;
  framesReceived = 0;
  consumerErrors = 0;
  readonly #aligner: LegAligner;
  readonly #upsampler = new Upsampler8to16();
  /** The PCM buffer lent to consumers, reused for every frame of this leg. */
  #pcm = new Int16Array(320);
  readonly #consumers: LegConsumer[] = [];
  readonly #onConsumerError: (err: unknown) => void;
  #ended = false;
  /** Call-clock end of the newest media message, and when (performance.now()) it arrived. */
  #mediaEndMs: number | undefined;
  #mediaArrivedAt = 0;
  readonly #tracksClock: boolean;

  /** `tracksClock`: keep the carrier clock readable (`clockMs`), for calls that play audio back. */
  constructor(
    spec: LegSpec,
    aligner: AlignerOptions,
    onConsumerError: (err: unknown) => void,
    tracksClock = false,
  ) {
    this.label = spec.label;
    this.#tracksClock = tracksClock;
    this.track = spec.track;
    this.#onConsumerError = onConsumerError;
    this.#aligner = new LegAligner(aligner, {
      audio: (start, payload) =>
        this.#deliver(start, this.#upsampler.pushMulaw(payload, this.#lend(payload.length)), payload, false),
      gap: (start, length) => {
        for (let done = 0; done < length; done += FILL_CHUNK_SAMPLES) {
          const n = Math.min(FILL_CHUNK_SAMPLES, length - done);
          const silence = MULAW_SILENCE.subarray(0, n);
          this.#deliver(start + done, this.#upsampler.pushSilence(n, this.#lend(n)), silence, true);
        }
      },
    });
  }

  attach(consumer: LegConsumer): void {
    this.#consumers.push(consumer);
  }

  /** μ-law bytes that the carrier stamped at `timestampMs` on the call clock. */
  pushMulaw(timestampMs: number, payload: Uint8Array): void {
    if (this.#ended) return;
    this.framesReceived++;
    if (this.#tracksClock) this.#noteClock(timestampMs + payload.length / SAMPLES_PER_MS_8K);
    this.#aligner.push(timestampMs * SAMPLES_PER_MS_8K, payload);
  }

  /** Releases held audio and tells consumers the leg is over. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#aligner.flush();
    this.#ended = true;
    for (const consumer of this.#consumers) {
      try {
        consumer.end();
      } catch (err) {
        this.#consumerFailed(err);
      }
    }
  }

  #noteClock(endMs: number): void {
    if (this.#mediaEndMs !== undefined && endMs <= this.#mediaEndMs) return;
    this.#mediaEndMs = endMs;
    this.#mediaArrivedAt = performance.now();
  }

  /** Where the carrier's clock is at `now` (performance.now()), judged from the newest media. */
  clockMs(now: number): number | undefined {
    return this.#mediaEndMs === undefined ? undefined : this.#mediaEndMs + (now - this.#mediaArrivedAt);
  }

  stats(): LegStats {
    const c = this.#aligner.counts;
    const position = this.#aligner.position;
    return {
      label: this.label,
      track: this.track,
      framesReceived: this.framesReceived,
      audioSeconds: c.samples / (SAMPLES_PER_MS_8K * 1000),
      gapFilledMs: c.filledSamples / SAMPLES_PER_MS_8K,
      skippedMs: c.skippedSamples / SAMPLES_PER_MS_8K,
      framesDropped: c.droppedPackets,
      droppedMs: c.droppedSamples / SAMPLES_PER_MS_8K,
      reordered: c.reordered,
      positionMs: position === undefined ? null : position / SAMPLES_PER_MS_8K,
    };
  }

  /** The reusable output buffer, sized for `samples8k` carrier samples. */
  #lend(samples8k: number): Int16Array {
    const length = samples8k * 2;
    if (this.#pcm.length < length) this.#pcm = new Int16Array(length);
    return this.#pcm.length === length ? this.#pcm : this.#pcm.subarray(0, length);
  }

  #deliver(start: number, pcm: Int16Array, mulaw: Uint8Array, filled: boolean): void {
    const frame: AudioFrame = {
      leg: this.label,
      pcm,
      mulaw,
      startMs: start / SAMPLES_PER_MS_8K,
      durationMs: mulaw.length / SAMPLES_PER_MS_8K,
      filled,
    };
    for (const consumer of this.#consumers) {
      try {
        consumer.push(frame);
      } catch (err) {
        this.#consumerFailed(err);
      }
    }
  }

  #consumerFailed(err: unknown): void {
    this.consumerErrors++;
    this.#onConsumerError(err);
  }
}
