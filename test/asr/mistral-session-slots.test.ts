import { describe, expect, it } from 'vitest';
import { SessionSlots } from '../../src/asr/mistral/session-slots.js';
import type { SessionHolder } from '../../src/asr/realtime-stream.js';

/** A holder that records its grants and yields (giving its slot back) when told it is idle. */
function holder(name: string, log: string[], slots: () => SessionSlots, idle = false) {
  const h: SessionHolder & { idle: boolean } = {
    idle,
    granted: () => log.push(`${name} granted`),
    yieldIfIdle: () => {
      log.push(`${name} asked`);
      if (!h.idle) return false;
      slots().release(h);
      return true;
    },
  };
  return h;
}

describe('MISTRAL_MAX_SESSIONS slots', () => {
  it('grants up to the cap at once; past it, waiters get slots oldest first as they are given back', () => {
    const log: string[] = [];
    const slots = new SessionSlots(2);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => holder(n, log, () => slots));
    for (const h of [a, b, c, d]) slots.acquire(h);
    expect(log).toEqual(['a granted', 'b granted', 'a asked', 'b asked', 'a asked', 'b asked']);
    expect([slots.inUse, slots.waiting, slots.contended]).toEqual([2, 2, true]);
    log.length = 0;
    slots.release(b);
    slots.release(a);
    expect(log).toEqual(['c granted', 'd granted']);
    expect([slots.inUse, slots.waiting, slots.contended]).toEqual([2, 0, false]);
  });

  it('an idle holder is asked for its slot when another waits, and the slot goes to the waiter', () => {
    const log: string[] = [];
    const slots = new SessionSlots(1);
    const a = holder('a', log, () => slots, true);
    const b = holder('b', log, () => slots);
    slots.acquire(a);
    slots.acquire(b);
    expect(log).toEqual(['a granted', 'a asked', 'b granted']);
  });

  it('a holder whose socket is closing is not asked: its slot comes free by itself', () => {
    const log: string[] = [];
    const slots = new SessionSlots(1);
    const a = holder('a', log, () => slots, true);
    const b = holder('b', log, () => slots);
    slots.acquire(a);
    slots.closing(a);
    slots.acquire(b);
    expect(slots.contended).toBe(false);
    slots.release(a);
    expect(log).toEqual(['a granted', 'b granted']);
  });

  it('a waiter that withdraws (its leg ended) is never granted, and holds nothing', () => {
    const log: string[] = [];
    const slots = new SessionSlots(1);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => holder(n, log, () => slots));
    slots.acquire(a);
    slots.acquire(b);
    slots.acquire(c);
    slots.release(b);
    slots.release(a);
    expect(log.filter((l) => l.endsWith('granted'))).toEqual(['a granted', 'c granted']);
    expect([slots.inUse, slots.waiting]).toEqual([1, 0]);
  });

  it('refuses a cap below one', () => {
    expect(() => new SessionSlots(0)).toThrow(RangeError);
  });
});
