import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.js';

describe('ManualClock', () => {
  it('runs timers in time order at their own time, intervals repeatedly, cleared ones never', async () => {
    const clock = new ManualClock(1000);
    const seen: string[] = [];
    clock.setTimeout(() => seen.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => seen.push(`a@${clock.now()}`), 10);
    const tick = clock.setInterval(() => seen.push(`i@${clock.now()}`), 15);
    const never = clock.setTimeout(() => seen.push('never'), 5);
    clock.clearTimeout(never);
    await clock.advance(31);
    expect(seen).toEqual(['a@1010', 'i@1015', 'b@1020', 'i@1030']);
    expect(clock.now()).toBe(1031);
    clock.clearInterval(tick);
    await clock.advance(100);
    expect(seen).toHaveLength(4);
    expect(clock.pending).toBe(0);
  });

  it('lets the promise work a timer starts finish before the next timer runs', async () => {
    const clock = new ManualClock();
    const seen: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve().then(() => seen.push('after first'));
    }, 1);
    clock.setTimeout(() => seen.push('second'), 2);
    await clock.advance(2);
    expect(seen).toEqual(['after first', 'second']);
  });

  it('runs a timer set by a timer when it falls due within the same advance', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => seen.push(clock.now()), 5), 5);
    await clock.advance(10);
    expect(seen).toEqual([10]);
  });
});
