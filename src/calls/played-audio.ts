import { Downsampler16to8 } from '../audio/downsampler.js';
import type { AudioFrame } from '../audio/frame.js';
import type { LegConsumer } from './leg.js';

/**
 * What voxline plays into a call (the voice agent's speech), as AudioFrames of the agent's
 * "leg" on the call clock, for consumers such as the recorder. Free when nobody listens.
 */
export class PlayedAudio {
  readonly #label: string;
  readonly #onConsumerError: (err: unknown) => void;
  readonly #consumers: LegConsumer[] = [];
  #downsampler: Downsampler16to8 | undefined;
  #ended = false;

  constructor(label: string, onConsumerError: (err: unknown) => void) {
    this.#label = label;
    this.#onConsumerError = onConsumerError;
  }

  attach(consumer: LegConsumer): void {
    this.#consumers.push(consumer);
  }

  /** 16 kHz PCM that starts playing at `startMs` on the call clock. */
  push(pcm: Int16Array, startMs: number): void {
    if (this.#ended || this.#consumers.length === 0) return;
    this.#downsampler ??= new Downsampler16to8();
    const mulaw = this.#downsampler.pushPcmToMulaw(pcm);
    const frame: AudioFrame = {
      leg: this.#label,
      pcm,
      mulaw,
      startMs,
      durationMs: pcm.length / 16,
      filled: false,
    };
    for (const consumer of this.#consumers) this.#tell(() => consumer.push(frame));
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const consumer of this.#consumers) this.#tell(() => consumer.end());
  }

  /** A failing consumer is reported, never allowed to stop the playback that feeds it. */
  #tell(action: () => void): void {
    try {
      action();
    } catch (err) {
      this.#onConsumerError(err);
    }
  }
}
