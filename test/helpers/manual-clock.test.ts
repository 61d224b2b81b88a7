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

  it('stall moves time on without running timers; the overdue ones run late on the next advance', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 10);
    clock.stall(50);
    expect(seen).toEqual([]);
    expect(clock.now()).toBe(50);
    await clock.advance(0);
    expect(seen).toEqual([50]);
  });

  it('hands out unref-able handles, clears an interval from inside its own callback, and wallNow follows now', async () => {
    const clock = new ManualClock(0, 1_000_000);
    let runs = 0;
    const tick = clock.setInterval(() => {
      if (++runs === 3) clock.clearInterval(tick);
    }, 10);
    tick.unref();
    await clock.advance(100);
    expect(runs).toBe(3);
    expect(clock.wallNow()).toBe(1_000_100);
    clock.clearTimeout(undefined); // nothing to clear: no throw
  });
});
