/**
 * Deterministic network damage for simulated calls: which frames are lost, sent twice, or sent
 * after their successor. Driven by a seeded generator, so a test can state exact expectations.
 */

export interface ImpairmentOptions {
  /** Probability that a frame is never sent. */
  readonly lossRate?: number;
  /** Probability that a frame is sent twice. */
  readonly duplicateRate?: number;
  /** Probability that a frame is held back and sent after the next one. */
  readonly reorderRate?: number;
  readonly seed?: number;
  /** Frame indexes (per track, from 0) that are always lost. */
  readonly drop?: readonly number[];
}

export interface ImpairmentPlan {
  readonly dropped: ReadonlySet<number>;
  readonly duplicated: ReadonlySet<number>;
  /** Frames sent after their successor. */
  readonly reordered: ReadonlySet<number>;
}

/** mulberry32: small, fast, good enough for test damage. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function planImpairment(frames: number, options: ImpairmentOptions = {}): ImpairmentPlan {
  const random = generator(options.seed ?? 1);
  const dropped = new Set(options.drop ?? []);
  const duplicated = new Set<number>();
  const reordered = new Set<number>();
  for (let i = 0; i < frames; i++) {
    // Draw all three every frame so changing one rate does not reshuffle the others.
    const lose = random() < (options.lossRate ?? 0);
    const dup = random() < (options.duplicateRate ?? 0);
    const swap = random() < (options.reorderRate ?? 0);
    if (lose) dropped.add(i);
    if (dropped.has(i)) continue;
    if (dup) duplicated.add(i);
    // Only swap with a successor that is itself sent and not swapped, so each swap is one exchange.
    if (swap && i + 1 < frames && !reordered.has(i - 1)) reordered.add(i);
  }
  for (const i of reordered) if (dropped.has(i + 1)) reordered.delete(i);
  return { dropped, duplicated, reordered };
}

/** Frame indexes in the order they go on the wire. */
export function sendOrder(frames: number, plan: ImpairmentPlan): number[] {
  const order: number[] = [];
  for (let i = 0; i < frames; i++) {
    if (plan.dropped.has(i) || plan.reordered.has(i - 1)) continue; // lost, or already sent early
    for (const frame of plan.reordered.has(i) ? [i + 1, i] : [i]) {
      order.push(frame);
      if (plan.duplicated.has(frame)) order.push(frame);
    }
  }
  return order;
}
