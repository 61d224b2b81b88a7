import { describe, expect, it } from 'vitest';
import { type AlignerOptions, LegAligner } from '../../src/audio/leg-aligner.js';

const PACKET = 160; // 20 ms at 8 kHz
const options: AlignerOptions = { reorderWindow: 3 * PACKET, maxFill: 50 * PACKET, maxQueued: 32 };

/** Packet i carries the byte value i (mod 256) so the output timeline can be read back. */
const packet = (i: number, length = PACKET) => new Uint8Array(length).fill(i & 0xff);

function run(arrivals: number[], opts: AlignerOptions = options) {
  const timeline: { start: number; length: number; kind: 'audio' | 'gap'; value?: number }[] = [];
  const aligner = new LegAligner(opts, {
    audio: (start, payload) =>
      timeline.push({ start, length: payload.length, kind: 'audio', value: payload[0] }),
    gap: (start, length) => timeline.push({ start, length, kind: 'gap' }),
  });
  for (const i of arrivals) aligner.push(i * PACKET, packet(i));
  aligner.flush();
  return { timeline, counts: aligner.counts, aligner };
}

/** The output must tile the timeline from its first sample with no hole and no overlap. */
function expectContiguous(timeline: { start: number; length: number }[]) {
  for (let i = 1; i < timeline.length; i++) {
    expect(timeline[i].start).toBe(timeline[i - 1].start + timeline[i - 1].length);
  }
}

describe('LegAligner', () => {
  it('passes in-order packets straight through, nothing filled or dropped', () => {
    const { timeline, counts } = run([0, 1, 2, 3, 4, 5]);
    expect(timeline.map((t) => t.value)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(counts).toMatchObject({
      packets: 6,
      samples: 6 * PACKET,
      filledSamples: 0,
      droppedPackets: 0,
      reordered: 0,
    });
  });

  it('emits an in-order packet the moment it arrives once the timeline runs', () => {
    const emitted: number[] = [];
    const aligner = new LegAligner(options, { audio: (s) => emitted.push(s / PACKET), gap: () => undefined });
    for (let i = 0; i < 3; i++) aligner.push(i * PACKET, packet(i)); // first window
    expect(emitted).toEqual([0, 1, 2]);
    aligner.push(3 * PACKET, packet(3));
    expect(emitted).toEqual([0, 1, 2, 3]);
  });

  it('puts shuffled packets back in timestamp order, within the window', () => {
    const { timeline, counts } = run([1, 0, 2, 4, 3, 5, 7, 6, 8]);
    expect(timeline.map((t) => t.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expectContiguous(timeline);
    expect(counts).toMatchObject({ filledSamples: 0, droppedPackets: 0, reordered: 3 });
  });

  it('drops duplicates and counts them, whether still queued or already played out', () => {
    const { timeline, counts } = run([0, 1, 1, 2, 4, 4, 3, 2, 5]);
    expect(timeline.map((t) => t.value)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(counts).toMatchObject({ droppedPackets: 3, droppedSamples: 3 * PACKET, filledSamples: 0 });
  });

  it('fills a lost packet with silence once the window of later audio has queued, and counts it', () => {
    const { timeline, counts } = run([0, 1, 2, 4, 5, 6, 7]);
    expect(timeline.map((t) => t.kind)).toEqual([
      'audio',
      'audio',
      'audio',
      'gap',
      'audio',
      'audio',
      'audio',
      'audio',
    ]);
    expect(timeline[3]).toEqual({ start: 3 * PACKET, length: PACKET, kind: 'gap' });
    expectContiguous(timeline);
    expect(counts.filledSamples).toBe(PACKET);
  });

  it('waits for a late packet inside the window instead of filling', () => {
    const { timeline, counts } = run([0, 1, 3, 4, 2, 5]);
    expect(timeline.map((t) => t.value)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(counts.filledSamples).toBe(0);
  });

  it('drops a packet that arrives after its gap was filled, and counts it', () => {
    const { counts } = run([0, 1, 3, 4, 5, 6, 2]);
    expect(counts).toMatchObject({ filledSamples: PACKET, droppedPackets: 1, droppedSamples: PACKET });
  });

  it('keeps only the new tail of a packet that overlaps audio already passed on', () => {
    const timeline: { start: number; length: number }[] = [];
    const aligner = new LegAligner(
      { ...options, reorderWindow: 0 },
      {
        audio: (start, payload) => timeline.push({ start, length: payload.length }),
        gap: () => undefined,
      },
    );
    aligner.push(0, new Uint8Array(160));
    aligner.push(80, new Uint8Array(160)); // half of it is already out
    expect(timeline).toEqual([
      { start: 0, length: 160 },
      { start: 160, length: 80 },
    ]);
    expect(aligner.counts.droppedSamples).toBe(80);
  });

  it('starts the timeline at the earliest packet of the first window, even if it came second', () => {
    const { timeline } = run([2, 1, 3, 4]);
    expect(timeline[0]).toMatchObject({ start: PACKET, value: 1 });
  });

  it('skips (does not fill) a gap longer than maxFill, and counts the skipped samples', () => {
    const { timeline, counts } = run([0, 1, 100, 101, 102, 103], { ...options, maxFill: 10 * PACKET });
    expect(timeline.some((t) => t.kind === 'gap')).toBe(false);
    expect(timeline.map((t) => t.start / PACKET)).toEqual([0, 1, 100, 101, 102, 103]);
    expect(counts.skippedSamples).toBe(98 * PACKET);
  });

  it('is not derailed by one packet with a wild timestamp: the real stream keeps flowing', () => {
    const aligner = new LegAligner(
      { ...options, maxFill: 10 * PACKET },
      { audio: () => undefined, gap: () => undefined },
    );
    aligner.push(0, packet(0));
    aligner.push(PACKET, packet(1));
    aligner.push(2 * PACKET, packet(2));
    aligner.push(1_000_000 * PACKET, packet(9)); // bogus
    for (let i = 3; i < 50; i++) aligner.push(i * PACKET, packet(i));
    expect(aligner.counts.samples).toBe(50 * PACKET);
    expect(aligner.position).toBe(50 * PACKET);
  });

  it('with no reorder window, fills gaps immediately', () => {
    const { counts, timeline } = run([0, 2], { ...options, reorderWindow: 0 });
    expect(counts.filledSamples).toBe(PACKET);
    expect(timeline.map((t) => t.kind)).toEqual(['audio', 'gap', 'audio']);
  });

  it('releases early when too many packets are queued behind a gap', () => {
    const emitted: number[] = [];
    const aligner = new LegAligner(
      { reorderWindow: 1_000_000, maxFill: 1_000_000, maxQueued: 4 },
      { audio: (s) => emitted.push(s / PACKET), gap: () => undefined },
    );
    for (const i of [0, 1, 2, 3, 4]) aligner.push(i * PACKET, packet(i)); // timeline starts when queue > 4
    for (const i of [6, 7, 8, 9, 10]) aligner.push(i * PACKET, packet(i));
    expect(emitted).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
    expect(aligner.counts.filledSamples).toBe(PACKET);
  });

  it('reconstructs a long shuffled, duplicated, lossy stream exactly, with exact counts', () => {
    // Deterministic damage: drop every 17th packet (not the first or last), swap neighbours every
    // 5th, duplicate every 11th.
    const total = 1000;
    const lost = new Set<number>();
    for (let i = 17; i < total - 1; i += 17) lost.add(i);
    const arrivals: number[] = [];
    for (let i = 0; i < total; i++) if (!lost.has(i)) arrivals.push(i);
    for (let k = 5; k + 1 < arrivals.length; k += 5)
      [arrivals[k], arrivals[k + 1]] = [arrivals[k + 1], arrivals[k]];
    const withDuplicates = arrivals.flatMap((i, k) => (k % 11 === 0 ? [i, i] : [i]));
    const { timeline, counts } = run(withDuplicates);
    expectContiguous(timeline);
    expect(timeline[0].start).toBe(0);
    expect(timeline.at(-1)!.start + timeline.at(-1)!.length).toBe(total * PACKET);
    const audio = timeline.filter((t) => t.kind === 'audio');
    expect(audio.map((t) => t.start / PACKET)).toEqual([...Array(total).keys()].filter((i) => !lost.has(i)));
    expect(audio.every((t) => t.value === ((t.start / PACKET) & 0xff))).toBe(true);
    expect(counts.filledSamples).toBe(lost.size * PACKET);
    expect(counts.droppedPackets).toBe(withDuplicates.length - arrivals.length);
  });
  it('refuses a position that is not a whole sample within ±2^40, counts it, and keeps the stream going', () => {
    const emitted: number[] = [];
    const aligner = new LegAligner(options, { audio: (s) => emitted.push(s / PACKET), gap: () => undefined });
    for (let i = 0; i < 3; i++) aligner.push(i * PACKET, packet(i));
    for (const bad of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 40 + 1, -(2 ** 40) - 1, 0.5])
      aligner.push(bad, packet(9));
    for (let i = 3; i < 6; i++) aligner.push(i * PACKET, packet(i));
    aligner.flush();
    expect(emitted).toEqual([0, 1, 2, 3, 4, 5]);
    expect(aligner.counts).toMatchObject({
      samples: 6 * PACKET,
      badTimestamps: 5,
      droppedPackets: 5,
      droppedSamples: 5 * PACKET,
      skippedSamples: 0,
      filledSamples: 0,
    });
    expect(aligner.position).toBe(6 * PACKET);
  });

  it('refuses a NaN position (once queued, it never compared equal to anything and the release spun)', () => {
    const aligner = new LegAligner(
      { ...options, reorderWindow: 0 },
      { audio: () => undefined, gap: () => undefined },
    );
    aligner.push(0, packet(0));
    aligner.push(Number.NaN, packet(1));
    aligner.push(PACKET, packet(1));
    aligner.flush();
    expect(aligner.counts).toMatchObject({ samples: 2 * PACKET, badTimestamps: 1, droppedPackets: 1 });
    expect(aligner.position).toBe(2 * PACKET);
  });

  it('tells its output where it skipped, just before the audio after the jump', () => {
    const events: string[] = [];
    const aligner = new LegAligner(
      { ...options, maxFill: 10 * PACKET },
      {
        audio: (start) => events.push(`audio ${start / PACKET}`),
        gap: (start, length) => events.push(`gap ${start / PACKET}+${length / PACKET}`),
        skip: (start, length) => events.push(`skip ${start / PACKET}+${length / PACKET}`),
      },
    );
    for (const i of [0, 1, 3, 4, 5, 100, 101, 102]) aligner.push(i * PACKET, packet(i));
    aligner.flush();
    expect(events).toEqual([
      'audio 0',
      'audio 1',
      'gap 2+1',
      'audio 3',
      'audio 4',
      'audio 5',
      'skip 6+94',
      'audio 100',
      'audio 101',
      'audio 102',
    ]);
  });
});
