import { describe, expect, it } from 'vitest';
import { FrameRing } from '../../src/asr/frame-ring.js';
import type { AudioFrame } from '../../src/audio/frame.js';

function frame(i: number, ms = 20): AudioFrame {
  const pcm = new Int16Array(ms * 16).fill(i);
  return {
    leg: 'caller',
    pcm,
    mulaw: new Uint8Array(ms * 8).fill(i),
    startMs: i * ms,
    durationMs: ms,
    filled: i % 2 === 1,
  };
}

describe('the pre-roll frame ring', () => {
  it('hands frames back oldest first, as copies of what was pushed, across many wrap-arounds', () => {
    const ring = new FrameRing(100); // room for five 20 ms frames
    const out: number[] = [];
    for (let i = 1; i <= 50; i++) {
      const lent = frame(i);
      expect(ring.push(lent)).toBe(true);
      lent.pcm.fill(-1); // the leg reuses its buffer: the ring must have copied
      if (ring.length === 4) {
        ring.shift('caller', (f) => {
          expect(f.pcm.every((v) => v === f.pcm[0])).toBe(true);
          expect(f.mulaw.length * 2).toBe(f.pcm.length);
          expect(f.filled).toBe(f.pcm[0] % 2 === 1);
          out.push(f.pcm[0]);
        });
      }
    }
    expect(out).toEqual(Array.from({ length: 47 }, (_, i) => i + 1));
    expect(ring.oldestEndMs()).toBe(48 * 20 + 20);
  });

  it('says when it is full instead of overwriting', () => {
    const ring = new FrameRing(60);
    for (let i = 0; i < 3; i++) expect(ring.push(frame(i))).toBe(true);
    expect(ring.push(frame(3))).toBe(false);
    expect(ring.shift('caller')).toBe(20);
    expect(ring.push(frame(3))).toBe(true);
  });
});
