import { describe, expect, it } from 'vitest';
import { planImpairment, sendOrder } from '../../src/simulator/impairment.js';

describe('simulated network damage', () => {
  it('is the same plan for the same seed, and a different one for another', () => {
    const a = planImpairment(500, { lossRate: 0.05, reorderRate: 0.05, duplicateRate: 0.05, seed: 3 });
    const b = planImpairment(500, { lossRate: 0.05, reorderRate: 0.05, duplicateRate: 0.05, seed: 3 });
    const c = planImpairment(500, { lossRate: 0.05, reorderRate: 0.05, duplicateRate: 0.05, seed: 4 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('sends nothing twice except duplicates, loses exactly the dropped frames, swaps only neighbours', () => {
    const frames = 2000;
    const plan = planImpairment(frames, {
      lossRate: 0.03,
      reorderRate: 0.04,
      duplicateRate: 0.02,
      seed: 11,
      drop: [7],
    });
    const order = sendOrder(frames, plan);
    expect(plan.dropped.has(7)).toBe(true);
    const counts = new Map<number, number>();
    for (const i of order) counts.set(i, (counts.get(i) ?? 0) + 1);
    for (let i = 0; i < frames; i++) {
      const expected = plan.dropped.has(i) ? 0 : plan.duplicated.has(i) ? 2 : 1;
      expect(counts.get(i) ?? 0, `frame ${i}`).toBe(expected);
    }
    const firstSeen = [...new Set(order)];
    const outOfOrder = firstSeen.filter((i, k) => k > 0 && i < firstSeen[k - 1]);
    expect(outOfOrder.length).toBe(plan.reordered.size);
    for (const i of plan.reordered) expect(firstSeen.indexOf(i + 1)).toBe(firstSeen.indexOf(i) - 1);
  });

  it('with no damage sends every frame once, in order', () => {
    expect(sendOrder(5, planImpairment(5))).toEqual([0, 1, 2, 3, 4]);
  });
});
