import { describe, expect, it } from 'vitest';
import { PhraseCache } from '../../../src/agent/tts/phrase-cache.js';
import type { TextToSpeech } from '../../../src/agent/tts/tts.js';

/** A TTS that "speaks" each sentence as two chunks derived from its text, and counts its work. */
class CountingTts implements TextToSpeech {
  readonly name = 'counting';
  readonly requests: string[] = [];
  closed = false;
  failing = new Set<string>();
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  release(): void {
    this.#open();
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    this.requests.push(text);
    await this.#gate;
    if (this.failing.has(text)) throw new Error(`cannot say ${text}`);
    for (const part of [0, 1]) {
      if (signal.aborted) return;
      yield Int16Array.from({ length: text.length }, (_, i) => text.charCodeAt(i) + part);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function spoken(tts: TextToSpeech, text: string, signal = new AbortController().signal) {
  const chunks: number[][] = [];
  for await (const pcm of tts.synthesize(text, signal)) chunks.push([...pcm]);
  return chunks;
}

describe('PhraseCache', () => {
  it('synthesizes each sentence of the fixed lines once, then plays them from memory; other text goes to the TTS', async () => {
    const inner = new CountingTts();
    const cache = new PhraseCache(inner);
    expect(await cache.warm(['Hello. How can I help?', 'Goodbye.', 'Hello.'])).toEqual({
      cached: 3,
      failed: 0,
    });
    expect(inner.requests).toEqual(['Hello.', 'How can I help?', 'Goodbye.']);
    const direct = await spoken(new CountingTts(), 'How can I help?');
    expect(await spoken(cache, 'How can I help?')).toEqual(direct);
    expect(await spoken(cache, 'How can I help?')).toEqual(direct);
    expect(await spoken(cache, 'Your order ships today.')).toHaveLength(2);
    expect(inner.requests).toEqual(['Hello.', 'How can I help?', 'Goodbye.', 'Your order ships today.']);
  });

  it('a call that asks for a line still being synthesized waits for it rather than synthesizing it again', async () => {
    const inner = new CountingTts();
    inner.hold();
    const cache = new PhraseCache(inner);
    const warming = cache.warm(['Hello.']);
    const greeting = spoken(cache, 'Hello.');
    inner.release();
    await warming;
    expect(await greeting).toEqual(await spoken(new CountingTts(), 'Hello.'));
    expect(inner.requests).toEqual(['Hello.']);
  });

  it('hands each caller its own copy, and stops when the caller aborts', async () => {
    const cache = new PhraseCache(new CountingTts());
    await cache.warm(['Hello.']);
    for await (const pcm of cache.synthesize('Hello.', new AbortController().signal)) pcm.fill(0);
    expect((await spoken(cache, 'Hello.'))[0][0]).toBe('H'.charCodeAt(0));
    const abort = new AbortController();
    const heard: Int16Array[] = [];
    for await (const pcm of cache.synthesize('Hello.', abort.signal)) {
      heard.push(pcm);
      abort.abort();
    }
    expect(heard).toHaveLength(1);
  });

  it('a line that fails is counted and left to the TTS per call; past its bound nothing more is kept', async () => {
    const inner = new CountingTts();
    inner.failing.add('Oops.');
    const cache = new PhraseCache(inner, 'Hello.'.length * 2 + 'Bye.'.length * 2);
    expect(await cache.warm(['Oops.', 'Hello.', 'Bye.', 'Too much now.'])).toEqual({ cached: 2, failed: 1 });
    inner.failing.clear();
    inner.requests.length = 0;
    await spoken(cache, 'Oops.');
    await spoken(cache, 'Too much now.');
    await spoken(cache, 'Bye.');
    expect(inner.requests).toEqual(['Oops.', 'Too much now.']);
  });

  it('close stops warming and closes the TTS', async () => {
    const inner = new CountingTts();
    inner.hold();
    const cache = new PhraseCache(inner);
    const warming = cache.warm(['One.', 'Two.']);
    await cache.close();
    inner.release();
    expect(await warming).toEqual({ cached: 0, failed: 1 });
    expect(inner.requests).toEqual(['One.']);
    expect(inner.closed).toBe(true);
  });
});
