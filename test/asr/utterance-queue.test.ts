import { describe, expect, it } from 'vitest';
import { UtteranceQueue } from '../../src/asr/utterance-queue.js';

/** 20 ms of PCM16 at 16 kHz whose every byte is `fill`, so where each chunk went can be read back. */
const chunk = (fill: number) => Buffer.alloc(640, fill);

/** Appends 20 ms frames `fromMs`…`toMs` (fills 1, 2, 3, … from the start of the queue's audio). */
function frames(queue: UtteranceQueue, fromMs: number, toMs: number, firstFill = 1): void {
  for (let at = fromMs, fill = firstFill; at < toMs; at += 20, fill++) queue.append(chunk(fill), at, at + 20);
}

describe('an utterance ended by the VAD', () => {
  it('ends where speech ended when no audio after it was queued (the chunk straddling the end stays)', () => {
    const queue = new UtteranceQueue();
    frames(queue, 1_000, 1_200);
    queue.flushOpen(1_190);
    expect(queue.length).toBe(1);
    expect(queue.head?.speechEndMs).toBe(1_190);
    expect(queue.head?.flushed).toBe(true);
    expect(queue.open).toBeUndefined();
  });

  it('a late end (the VAD behind): unsent audio after it becomes the next utterance, bytes and times intact', () => {
    const queue = new UtteranceQueue();
    frames(queue, 1_000, 2_000); // 50 chunks, fills 1…50
    queue.flushOpen(1_410); // chunk 21 (1 400–1 420) straddles the end
    expect(queue.length).toBe(2);
    const [first, next] = [queue.head, queue.open];
    expect(first?.speechEndMs).toBe(1_410);
    expect(first?.ends).toHaveLength(21);
    expect(first?.bytes).toBe(21 * 640);
    expect(first?.audio[first.bytes - 1]).toBe(21);
    expect(next?.startMs).toBe(1_420);
    expect(next?.ends).toHaveLength(29);
    expect(next?.bytes).toBe(29 * 640);
    expect([next?.audio[0], next?.audio[(next?.bytes ?? 0) - 1]]).toEqual([22, 50]);
    expect(next?.endsMs.at(-1)).toBe(2_000);
    expect(next?.flushed).toBe(false);
    // Nothing held was lost or counted twice.
    expect(queue.bytes).toBe(50 * 640);
    // The next utterance takes the audio that follows, and ends as any other.
    frames(queue, 2_000, 2_100, 51);
    queue.flushOpen(2_100);
    expect(queue.open).toBeUndefined();
    expect(queue.bytes).toBe(55 * 640);
  });

  it('audio already sent after a late end stays in the utterance, which then ends where that audio does', () => {
    const queue = new UtteranceQueue();
    frames(queue, 1_000, 2_000);
    const head = queue.head;
    if (!head) throw new Error('no utterance');
    head.sent = 40; // 1 000–1 800 ms went out on the engine socket
    head.sentBytes = head.ends[39];
    queue.flushOpen(1_410);
    expect(head.speechEndMs).toBe(1_800);
    expect(head.ends).toHaveLength(40);
    expect(queue.open?.startMs).toBe(1_800);
    expect(queue.open?.ends).toHaveLength(10);
  });

  it('everything sent: one utterance ending with its audio, none opened', () => {
    const queue = new UtteranceQueue();
    frames(queue, 0, 400);
    const head = queue.head;
    if (!head) throw new Error('no utterance');
    head.sent = head.ends.length;
    queue.flushOpen(100);
    expect(queue.length).toBe(1);
    expect(head.speechEndMs).toBe(400);
  });
});
