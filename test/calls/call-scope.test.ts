import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CallScope } from '../../src/calls/call-scope.js';

const silent = pino({ level: 'silent' });

describe('CallScope', () => {
  it('a timer that throws is contained: the failure is reported to the scope owner, nothing escapes', async () => {
    const failed = new Promise<unknown>((resolve) => {
      const scope = new CallScope(silent, resolve);
      scope.setTimer(0, () => {
        throw new TypeError('peer data the timer did not expect');
      });
    });
    expect(await failed).toBeInstanceOf(TypeError);
  });

  it('aborts every task on close and waits for them to finish', async () => {
    const scope = new CallScope(silent);
    const finished: string[] = [];
    for (const name of ['engine', 'recorder']) {
      scope.spawn(name, async (signal) => {
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        await new Promise((resolve) => setTimeout(resolve, 20));
        finished.push(name);
      });
    }
    await scope.close('stop');
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

  it('does not wait forever for a task that ignores its signal', async () => {
    const scope = new CallScope(silent);
    scope.spawn('stubborn', () => new Promise(() => undefined));
    const started = performance.now();
    await scope.close('stop', 100);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('logs a failing task instead of throwing at the caller, and keeps running others', async () => {
    const lines: { msg: string; task?: string }[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const scope = new CallScope(log);
    let otherRan = false;
    scope.spawn('broken', async () => {
      throw new Error('engine exploded');
    });
    scope.spawn('fine', async () => {
      otherRan = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await scope.close('done');
    expect(otherRan).toBe(true);
    expect(lines).toEqual([expect.objectContaining({ msg: 'call task failed', task: 'broken' })]);
  });

  it('clears its timers on close', async () => {
    const scope = new CallScope(silent);
    let fired = false;
    scope.setTimer(30, () => {
      fired = true;
    });
    await scope.close('done');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toBe(false);
  });
});
