import OpenAI from 'openai';
import { toPcm16k } from '../../audio/phone-audio.js';
import { VoxlineError } from '../../errors.js';
import type { TextToSpeech } from './tts.js';

export interface OpenAiTtsOptions {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly model: string;
  readonly voice: string;
  readonly timeoutMs: number;
}

/** OpenAI's `pcm` response format: 24 kHz, 16-bit little-endian, mono. */
const PCM_RATE_HZ = 24_000;

/**
 * Any OpenAI-compatible `/v1/audio/speech` server (OpenAI, Kokoro-FastAPI, LocalAI, …) through the
 * `openai` package, asking for raw PCM so nothing needs decoding; each sentence is resampled once
 * from 24 kHz to 16 kHz.
 */
export class OpenAiTts implements TextToSpeech {
  readonly name = 'openai';
  readonly #client: OpenAI;
  readonly #options: OpenAiTtsOptions;

  constructor(options: OpenAiTtsOptions) {
    this.#options = options;
    this.#client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey ?? 'none',
      maxRetries: 0,
      timeout: options.timeoutMs,
    });
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    let bytes: ArrayBuffer;
    try {
      const response = await this.#client.audio.speech.create(
        { model: this.#options.model, voice: this.#options.voice, input: text, response_format: 'pcm' },
        { signal },
      );
      bytes = await response.arrayBuffer();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new VoxlineError('VL_ERR_TTS_FAILED', `${this.#options.baseUrl}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const view = new DataView(bytes);
    const samples = new Float64Array(bytes.byteLength >> 1);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true);
    if (samples.length > 0) yield toPcm16k(samples, PCM_RATE_HZ);
  }

  async close(): Promise<void> {}
}
