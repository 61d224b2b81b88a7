import { SentenceSplitter } from '../sentence-splitter.js';
import { type TextToSpeech, TTS_SAMPLE_RATE } from './tts.js';

/** The most fixed-line audio kept: 60 s of 16 kHz PCM16, about 2 MB. */
const MAX_CACHED_SAMPLES = 60 * TTS_SAMPLE_RATE;

/** What warming did: sentences kept, and those whose synthesis failed (they are synthesized per call). */
export interface WarmResult {
  readonly cached: number;
  readonly failed: number;
}

/**
 * The agent's fixed lines (greeting, reprompt, goodbye, apologies) synthesized once and played
 * from memory: a call hears its greeting as soon as it is answered however busy the TTS is, and
 * the TTS is spared the same sentences call after call. Keys are the sentences as a reply speaks
 * them (SentenceSplitter); any other text goes to the TTS as before. Bounded by MAX_CACHED_SAMPLES.
 */
export class PhraseCache implements TextToSpeech {
  readonly name: string;
  readonly #tts: TextToSpeech;
  /** A sentence being synthesized (its callers wait for it) or synthesized; undefined: it failed. */
  readonly #phrases = new Map<string, Promise<readonly Int16Array[] | undefined>>();
  readonly #stop = new AbortController();
  readonly #maxSamples: number;
  #samples = 0;

  constructor(tts: TextToSpeech, maxSamples = MAX_CACHED_SAMPLES) {
    this.name = tts.name;
    this.#tts = tts;
    this.#maxSamples = maxSamples;
  }

  /** Synthesizes each line's sentences, one after another, and keeps them. */
  async warm(lines: readonly string[]): Promise<WarmResult> {
    let cached = 0;
    let failed = 0;
    for (const line of lines) {
      for (const sentence of new SentenceSplitter().push(`${line}\n`)) {
        if (this.#phrases.has(sentence) || this.#stop.signal.aborted) continue;
        const pending = this.#collect(sentence);
        this.#phrases.set(sentence, pending);
        const chunks = await pending;
        const samples = chunks?.reduce((n, c) => n + c.length, 0) ?? 0;
        if (!chunks || this.#samples + samples > this.#maxSamples) {
          this.#phrases.delete(sentence);
          if (!chunks) failed++;
          continue;
        }
        this.#samples += samples;
        cached++;
      }
    }
    return { cached, failed };
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    const chunks = await this.#phrases.get(text);
    if (!chunks) {
      yield* this.#tts.synthesize(text, signal);
      return;
    }
    for (const chunk of chunks) {
      if (signal.aborted) return;
      yield chunk.slice(); // each call its own copy: the cached audio is never written into
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#tts.close();
  }

  async #collect(sentence: string): Promise<readonly Int16Array[] | undefined> {
    try {
      const chunks: Int16Array[] = [];
      for await (const pcm of this.#tts.synthesize(sentence, this.#stop.signal)) chunks.push(pcm.slice());
      return this.#stop.signal.aborted ? undefined : chunks;
    } catch {
      return undefined;
    }
  }
}
