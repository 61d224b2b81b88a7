import { describe, expect, it } from 'vitest';
import { MediaClock } from '../../src/carriers/media-clock.js';
import { PacedOutbound } from '../../src/carriers/paced-outbound.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** A clock that ticks only when the test says. */
function handClock(): MediaClock & { members: Set<{ tick(n: number): void }> } {
  const members = new Set<{ tick(n: number): void }>();
  return {
    members,
    add: (m: { tick(n: number): void }) => members.add(m),
    delete: (m: { tick(n: number): void }) => members.delete(m),
  } as never;
}

describe('PacedOutbound (SIP RTP and AudioSocket playout)', () => {
  it('while its carrier is not ready it holds the queue (a greeting waits for the far end), for 1 s at most', () => {
    const clock = handClock();
    const sent: (number | undefined)[] = [];
    let ready = false;
    const out = new PacedOutbound(
      clock,
      (frame) => sent.push(frame?.[0]),
      undefined,
      () => ready,
    );
    out.sendPcm(new Int16Array(320 * 3).fill(5));
    for (let i = 0; i < 10; i++) out.tick(1);
    expect(sent).toEqual([]); // nothing sent, nothing used up
    ready = true;
    out.tick(3);
    expect(sent).toEqual([5, 5, 5]);

    // A far end that never becomes ready: after 50 ticks (1 s) audio goes on, so it is not stale later.
    const late: (number | undefined)[] = [];
    const never = new PacedOutbound(
      clock,
      (frame) => late.push(frame?.[0]),
      undefined,
      () => false,
    );
    never.sendPcm(new Int16Array(320).fill(9));
    for (let i = 0; i < 50; i++) never.tick(1);
    expect(late).toEqual([]);
    never.tick(1);
    expect(late).toEqual([9]);
  });

  it('sends one 20 ms frame per tick, pads a tail before a mark, and resolves the mark once what came before is sent', async () => {
    const clock = handClock();
    const sent: (number | undefined)[] = [];
    const out = new PacedOutbound(clock, (frame) => sent.push(frame?.[0]));
    out.sendPcm(new Int16Array(320 * 2 + 100).fill(7)); // two whole frames and a tail
    let done: { name: string; cleared: boolean } | undefined;
    void out.mark('a').then((r) => {
      done = r;
    });
    expect(out.queuedMs).toBe(60);
    for (let i = 0; i < 3; i++) [...clock.members][0].tick(1);
    await Promise.resolve();
    expect(sent).toEqual([7, 7, 7]);
    expect(done).toEqual({ name: 'a', cleared: false });
    [...clock.members][0].tick(2);
    expect(sent).toEqual([7, 7, 7, undefined, undefined]); // idle ticks: the edge sends silence
    out.end();
    expect(clock.members.size).toBe(0);
  });

  it('clear drops what is queued and resolves waiting marks as cleared; after end, sending is an error', async () => {
    const clock = handClock();
    const out = new PacedOutbound(clock, () => undefined);
    out.sendPcm(new Int16Array(3200));
    const mark = out.mark('m');
    out.clear();
    expect(await mark).toEqual({ name: 'm', cleared: true });
    expect(out.queuedMs).toBe(0);
    out.end();
    expect(() => out.sendPcm(new Int16Array(320))).toThrow(/VL_ERR_CALL_ENDED|call has ended/);
  });

  it('the shared clock ticks every member every 20 ms on one timer, catching up after a stall', async () => {
    const time = new ManualClock();
    const clock = new MediaClock(time);
    const ticks: number[] = [];
    const other: number[] = [];
    const member = { tick: (n: number) => ticks.push(n), failed: () => undefined };
    clock.add(member);
    clock.add({ tick: (n: number) => other.push(n), failed: () => undefined });
    await time.advance(100);
    expect(ticks).toEqual([1, 1, 1, 1, 1]);
    expect(time.pending).toBe(1); // one timer for all members
    // A stalled loop is caught up, not lost: frames follow elapsed time, whatever the tick count.
    time.stall(90);
    await time.advance(0);
    expect(ticks).toEqual([1, 1, 1, 1, 1, 4]);
    await time.advance(20);
    expect(ticks).toEqual([1, 1, 1, 1, 1, 4, 1]);
    expect(other).toEqual(ticks);
    expect(ticks.reduce((a, b) => a + b, 0)).toBe(Math.floor(time.now() / 20));
    // Past 200 ms of stall, the frames beyond 10 are skipped (counted), not sent late.
    time.stall(500);
    await time.advance(0);
    expect(ticks.at(-1)).toBe(10);
    expect(clock.skippedFrames).toBe(15);
    clock.delete(member);
    expect(clock.size).toBe(1);
  });

  it('stops its timer when the last member leaves, and restarts the cadence from the next one added', async () => {
    const time = new ManualClock();
    const clock = new MediaClock(time);
    const ticks: number[] = [];
    const member = { tick: () => ticks.push(time.now()), failed: () => undefined };
    clock.add(member);
    await time.advance(45);
    clock.delete(member);
    expect(clock.size).toBe(0);
    expect(time.pending).toBe(0);
    await time.advance(100);
    clock.add(member);
    await time.advance(20);
    expect(ticks).toEqual([20, 40, 165]);
    clock.delete(member);
  });

  it('a member whose tick throws is taken off the clock and told; the other members keep ticking', async () => {
    const time = new ManualClock();
    const clock = new MediaClock(time);
    const failures: unknown[] = [];
    clock.add({
      tick: () => {
        throw new RangeError('bad port');
      },
      failed: (err) => failures.push(err),
    });
    let ticks = 0;
    const healthy = { tick: () => ticks++, failed: () => undefined };
    clock.add(healthy);
    await time.advance(20);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(RangeError);
    await time.advance(180);
    expect(ticks).toBe(10);
    expect(clock.size).toBe(1);
    clock.delete(healthy);
  });

  it('a PacedOutbound whose send throws ends and reports the error once', async () => {
    const time = new ManualClock();
    const clock = new MediaClock(time);
    const reported: unknown[] = [];
    const out: PacedOutbound = new PacedOutbound(
      clock,
      () => {
        throw new Error('socket gone');
      },
      (err) => reported.push(err),
    );
    await time.advance(100);
    expect(reported).toHaveLength(1);
    expect(clock.size).toBe(0);
    expect(() => out.sendPcm(new Int16Array(320))).toThrow(/call has ended/);
  });

  it('plays queued audio on the shared clock at one 20 ms frame per tick, and resolves a mark when it is reached', async () => {
    const time = new ManualClock();
    const clock = new MediaClock(time);
    const sent: { at: number; first: number | undefined }[] = [];
    const out = new PacedOutbound(clock, (frame) => sent.push({ at: time.now(), first: frame?.[0] }));
    out.sendPcm(new Int16Array(320 * 3).fill(4));
    let markedAt: number | undefined;
    void out.mark('end').then(() => {
      markedAt = time.now();
    });
    await time.advance(80);
    expect(sent).toEqual([
      { at: 20, first: 4 },
      { at: 40, first: 4 },
      { at: 60, first: 4 },
      { at: 80, first: undefined },
    ]);
    expect(markedAt).toBe(60);
    out.end();
    expect(time.pending).toBe(0);
  });
});
