import { describe, expect, it } from 'vitest';
import { UtteranceQueue } from '../../src/asr/utterance-queue.js';

/** 20 ms of PCM16 at 16 kHz whose every byte is `fill`, so where each chunk went can be read back. */
const chunk = (fill: number) => Buffer.alloc(640, fill);

/** Appends 20 ms frames `fromMs`…`toMs` (fills 1, 2, 3, … from `firstFill`). */
function frames(queue: UtteranceQueue, fromMs: number, toMs: number, firstFill = 1): void {
  for (let at = fromMs, fill = firstFill; at < toMs; at += 20, fill++) queue.append(chunk(fill), at, at + 20);
}

describe('an utterance ended by the VAD', () => {
  it('ends where speech ended when no audio after it was queued (inside its last chunk)', () => {
    const queue = new UtteranceQueue();
    frames(queue, 1_000, 1_200);
    queue.flushOpen(1_190);
    expect(queue.length).toBe(1);
    expect(queue.head?.speechEndMs).toBe(1_190);
    expect(queue.head?.flushed).toBe(true);
    expect(queue.open).toBeUndefined();
  });

  it('a late end (the VAD behind, later audio already queued): it ends where its audio does, every byte kept', () => {
    const queue = new UtteranceQueue();
    frames(queue, 1_000, 2_000);
    queue.flushOpen(1_410);
    expect(queue.length).toBe(1);
    expect(queue.head?.speechEndMs).toBe(2_000);
    expect(queue.head?.bytes).toBe(50 * 640);
    expect(queue.bytes).toBe(50 * 640);
    // The next audio opens the next utterance.
    frames(queue, 3_000, 3_100, 60);
    expect(queue.length).toBe(2);
    expect(queue.open?.startMs).toBe(3_000);
    expect(queue.open?.audio[0]).toBe(60);
  });

  it('one chunk queued past the one the end falls in is enough to end with the audio', () => {
    const queue = new UtteranceQueue();
    frames(queue, 0, 400);
    queue.flushOpen(370); // inside 360–380; 380–400 starts after it
    expect(queue.head?.speechEndMs).toBe(400);
  });
});
