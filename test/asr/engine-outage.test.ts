import { describe, expect, it } from 'vitest';
import { EngineOutage } from '../../src/asr/engine-outage.js';

/* When a leg's engine trouble is a blip, when it is an outage, and when it is over. */

describe('EngineOutage', () => {
  it('one failure is a blip; the second in a row starts an outage, said once; a session ends it', () => {
    const health = new EngineOutage(100, 1_000);
    expect(health.recovered()).toBeUndefined(); // nothing to recover from
    expect(health.lost()).toEqual({ attempt: 1, outageStarts: false });
    expect(health.lost()).toEqual({ attempt: 2, outageStarts: true });
    expect(health.lost()).toEqual({ attempt: 3, outageStarts: false });
    expect(health.overflowed()).toBe(false); // already an outage: not said again
    expect(health.recovered()).toBe(3);
    expect(health.lost()).toEqual({ attempt: 1, outageStarts: false });
  });

  it('audio dropped for want of an engine starts an outage of its own, and the next loss does not repeat it', () => {
    const health = new EngineOutage(100, 1_000);
    expect(health.overflowed()).toBe(true);
    expect(health.overflowed()).toBe(false);
    health.lost();
    expect(health.lost().outageStarts).toBe(false);
    expect(health.recovered()).toBe(2);
  });

  it('backs off between attempts up to its ceiling, and starts again from the base once recovered', () => {
    const health = new EngineOutage(100, 1_000, () => 1); // the jitter at its top
    expect(Array.from({ length: 6 }, () => health.nextWait())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    health.recovered();
    expect(health.nextWait()).toBe(100);
  });
});
