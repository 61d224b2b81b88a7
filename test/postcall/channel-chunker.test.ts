import { describe, expect, it } from 'vitest';
import { ChannelChunker, MAX_CHUNK_SAMPLES } from '../../src/postcall/channel-chunker.js';

/** A 440 Hz tone at −20 dBFS with a 300 ms pause every 5 s (where a cut belongs). */
function speechLike(seconds: number, rate: number, from = 0): Int16Array {
  const out = new Int16Array(seconds * rate);
  for (let i = 0; i < out.length; i++) {
    const t = (from + i) / rate;
    out[i] = t % 5 > 4.7 ? 0 : Math.round(3277 * Math.sin(2 * Math.PI * 440 * t));
  }
  return out;
}

describe('splitting a channel into chunks', () => {
  it('tiles the channel exactly, in chunks no longer than asked, cut inside the pauses', () => {
    const rate = 8_000;
    const chunker = new ChannelChunker(rate, 12_000);
    const chunks = [];
    for (let s = 0; s < 60; s++) chunks.push(...chunker.push(speechLike(1, rate, s * rate)));
    chunks.push(chunker.end());
    let next = 0;
    for (const chunk of chunks) {
      if (!chunk) throw new Error('no last chunk');
      expect(chunk.startSample).toBe(next);
      expect(chunk.samples.length).toBeLessThanOrEqual(12 * rate);
      next += chunk.samples.length;
      const cutAt = (next / rate) % 5;
      if (next < 60 * rate) expect(cutAt > 4.7 || cutAt < 0.001).toBe(true);
      expect(chunk.audible).toBe(true);
    }
    expect(next).toBe(60 * rate);
  });

  it('keeps a chunk under 24 MiB of WAV whatever the setting says', () => {
    const rate = 16_000;
    const chunker = new ChannelChunker(rate, 3 * 3_600_000);
    const block = speechLike(60, rate);
    const sizes: number[] = [];
    for (let m = 0; m < 15; m++) for (const chunk of chunker.push(block)) sizes.push(chunk.samples.length);
    expect(sizes.length).toBeGreaterThanOrEqual(1);
    for (const n of sizes) expect(44 + n * 2).toBeLessThanOrEqual(24 * 1024 * 1024);
    expect(Math.max(...sizes)).toBeGreaterThan(MAX_CHUNK_SAMPLES * 0.6);
  });

  it('marks a chunk of line noise only as not audible (it is not sent)', () => {
    const chunker = new ChannelChunker(8_000, 60_000);
    const noise = Int16Array.from({ length: 8_000 * 5 }, (_, i) => ((i * 7919) % 41) - 20); // about −64 dBFS
    chunker.push(noise);
    expect(chunker.end()?.audible).toBe(false);
  });
});
