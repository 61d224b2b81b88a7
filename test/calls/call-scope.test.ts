import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CallScope } from '../../src/calls/call-scope.js';
import { ManualClock } from '../helpers/manual-clock.js';

const silent = pino({ level: 'silent' });

describe('CallScope', () => {
  it('a timer that throws is contained: the failure is reported to the scope owner, nothing escapes', async () => {
    const clock = new ManualClock();
    const failures: unknown[] = [];
    const scope = new CallScope(silent, (err) => failures.push(err), clock);
    scope.setTimer(0, () => {
      throw new TypeError('peer data the timer did not expect');
    });
    await clock.advance(0);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(TypeError);
  });

  it('aborts every task on close and waits for them to finish the work they do after the abort', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(silent, undefined, clock);
    const finished: string[] = [];
    for (const name of ['engine', 'recorder']) {
      scope.spawn(name, async (signal) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 20));
        finished.push(name);
      });
    }
    let closed = false;
    const closing = scope.close('stop').then(() => {
      closed = true;
    });
    await clock.advance(19);
    expect(closed).toBe(false); // the tasks are still finishing
    await clock.advance(1);
    await closing;
    expect(finished.sort()).toEqual(['engine', 'recorder']);
    expect(scope.signal.aborted).toBe(true);
    expect((scope.signal.reason as Error).message).toBe('stop');
  });

  it('runs cleanups newest first, even when one throws', async () => {
    const scope = new CallScope(silent);
    const order: number[] = [];
    scope.defer(() => {
      order.push(1);
    });
    scope.defer(() => {
      throw new Error('cleanup 2 failed');
    });
    scope.defer(async () => {
      order.push(3);
    });
    await scope.close('done');
    expect(order).toEqual([3, 1]);
  });

  it('runs deferLast cleanups after every deferred one, whenever they were registered (the recorder after the transcribers)', async () => {
    const scope = new CallScope(silent);
    const order: string[] = [];
    scope.defer(() => {
      order.push('settle transcript');
    });
    scope.deferLast(async () => {
      order.push('close recorder');
    });
    scope.deferLast(() => {
      order.push('close second recorder');
    });
    scope.defer(async () => {
      await Promise.resolve();
      order.push('leg transcriber done');
    });
    await scope.close('done');
    expect(order).toEqual([
      'leg transcriber done',
      'settle transcript',
      'close second recorder',
      'close recorder',
    ]);
    expect(() => scope.deferLast(() => undefined)).toThrow(/scope is closed/);
  });

  it('is idempotent, and refuses new work once closed', async () => {
    const scope = new CallScope(silent);
    let cleanups = 0;
    scope.defer(() => {
      cleanups++;
    });
    await Promise.all([scope.close('a'), scope.close('b')]);
    await scope.close('c');
    expect(cleanups).toBe(1);
    expect(scope.closed).toBe(true);
    expect(() => scope.spawn('late', async () => undefined)).toThrow(/scope is closed/);
    expect(() => scope.defer(() => undefined)).toThrow(/scope is closed/);
  });

  it('gives up on a task that ignores its signal once the close timeout has passed on its clock', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(silent, undefined, clock);
    scope.spawn('stubborn', () => new Promise(() => undefined));
    let closed = false;
    const closing = scope.close('stop', 100).then(() => {
      closed = true;
    });
    await clock.advance(99);
    expect(closed).toBe(false);
    await clock.advance(1);
    await closing;
    expect(closed).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('logs a failing task instead of throwing at the caller, and keeps running others', async () => {
    const clock = new ManualClock();
    const lines: { msg: string; task?: string }[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const scope = new CallScope(log, undefined, clock);
    let otherRan = false;
    scope.spawn('broken', async () => {
      throw new Error('engine exploded');
    });
    scope.spawn('fine', async () => {
      otherRan = true;
    });
    await clock.advance(0); // lets the failure settle before the close aborts the scope
    await scope.close('done');
    expect(otherRan).toBe(true);
    expect(lines).toEqual([expect.objectContaining({ msg: 'call task failed', task: 'broken' })]);
  });

  it('clears its timers and intervals on close: none of them runs afterwards', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(silent, undefined, clock);
    let fired = 0;
    scope.setTimer(30, () => fired++);
    scope.setInterval(10, () => fired++);
    scope.timers.setTimeout(() => fired++, 40);
    expect(clock.pending).toBe(3);
    await scope.close('done');
    expect(clock.pending).toBe(0);
    await clock.advance(60);
    expect(fired).toBe(0);
  });

  it('runs an interval on its clock until cleared, and clearTimer stops a timer before it fires', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(silent, undefined, clock);
    const seen: string[] = [];
    const tick = scope.setInterval(10, () => seen.push(`tick@${clock.now()}`));
    const cancelled = scope.setTimer(15, () => seen.push('cancelled'));
    scope.setTimer(25, () => seen.push(`timer@${clock.now()}`));
    scope.clearTimer(cancelled);
    await clock.advance(30);
    expect(seen).toEqual(['tick@10', 'tick@20', 'timer@25', 'tick@30']);
    scope.timers.clearInterval(tick);
    await clock.advance(30);
    expect(seen).toHaveLength(4);
    expect(clock.pending).toBe(0);
    expect(scope.timers.now()).toBe(60);
    expect(scope.clock).toBe(clock);
    await scope.close('done');
  });

  it('a timer set once the scope is closing never starts (the scope would clear it at once)', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(silent, undefined, clock);
    let fired = false;
    scope.defer(() => {
      scope.setTimer(1, () => {
        fired = true;
      });
    });
    await scope.close('done');
    scope.setTimer(1, () => {
      fired = true;
    });
    await clock.advance(10);
    expect(fired).toBe(false);
    expect(clock.pending).toBe(0);
  });
});
