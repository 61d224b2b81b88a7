/**
 * The text-to-speech port. Every engine (bundled flite, an OpenAI-compatible server, kokoro-js)
 * turns text into 16 kHz PCM16, the core's audio format; the carrier edge converts it to what the
 * call plays.
 */
export interface TextToSpeech {
  /** `flite`, `openai`, `kokoro` (metric and log label). */
  readonly name: string;
  /**
   * Speech for `text` as 16 kHz PCM16 chunks, as soon as each is ready. Aborting `signal` stops
   * the synthesis; the iterator then ends or throws the abort reason.
   */
  synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array>;
  /** Frees workers, sockets or models. */
  close(): Promise<void>;
}

export const TTS_SAMPLE_RATE = 16_000;
