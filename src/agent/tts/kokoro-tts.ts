import { toPcm16k } from '../../audio/phone-audio.js';
import { VoxlineError } from '../../errors.js';
import type { TextToSpeech } from './tts.js';

export interface KokoroOptions {
  readonly model: string;
  readonly voice: string;
  readonly dtype: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
}

interface KokoroModel {
  generate(text: string, options: { voice: string }): Promise<{ audio: Float32Array; sampling_rate: number }>;
}

/** Loaded by name, so voxline installs and runs without it (it is an optional, heavy package). */
const KOKORO_PACKAGE = 'kokoro-js';

/**
 * Kokoro-82M in-process through kokoro-js (Apache-2.0), for natural speech on a CPU. Not installed
 * by default: `npm install kokoro-js`. The model downloads from the Hugging Face
 * Hub on first use and is cached there after.
 */
export class KokoroTts implements TextToSpeech {
  readonly name = 'kokoro';
  readonly #options: KokoroOptions;
  #model: Promise<KokoroModel> | undefined;

  constructor(options: KokoroOptions) {
    this.#options = options;
  }

  /** Loads the model now rather than on the first sentence (and fails early if it cannot). */
  load(): Promise<KokoroModel> {
    this.#model ??= (async () => {
      let module: { KokoroTTS: { from_pretrained(id: string, o: object): Promise<KokoroModel> } };
      try {
        module = await import(KOKORO_PACKAGE);
      } catch (err) {
        throw new VoxlineError(
          'VL_ERR_TTS_FAILED',
          'TTS_ENGINE=kokoro needs the kokoro-js package: npm install kokoro-js',
          {
            cause: err,
          },
        );
      }
      try {
        return await module.KokoroTTS.from_pretrained(this.#options.model, {
          dtype: this.#options.dtype,
          device: 'cpu',
        });
      } catch (err) {
        throw new VoxlineError(
          'VL_ERR_TTS_FAILED',
          `cannot load ${this.#options.model}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    })();
    this.#model.catch(() => {
      this.#model = undefined; // try again on the next sentence (e.g. the network came back)
    });
    return this.#model;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    const model = await this.load();
    signal.throwIfAborted();
    const { audio, sampling_rate } = await model.generate(text, { voice: this.#options.voice });
    signal.throwIfAborted();
    const samples = new Float64Array(audio.length);
    for (let i = 0; i < audio.length; i++) samples[i] = audio[i] * 32767;
    yield toPcm16k(samples, sampling_rate);
  }

  async close(): Promise<void> {}
}
