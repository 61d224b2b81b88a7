import { describe, expect, it } from 'vitest';
import { VoxlineError } from '../../src/errors.js';
import { callContextBias, checkContextBias } from '../../src/postcall/context-bias.js';
import { PostcallQueue } from '../../src/postcall/postcall-queue.js';
import { RetriesExhausted, withRetries } from '../../src/postcall/retrying.js';
import { ManualClock } from '../helpers/manual-clock.js';

const retryable = (err: unknown) => err instanceof VoxlineError && err.code === 'VL_ERR_BATCH_ENGINE';

describe('retries of a post-call request', () => {
  it('waits the engine’s Retry-After, then backoff, on the injected clock, and succeeds', async () => {
    const clock = new ManualClock();
    const tries: number[] = [];
    const result = withRetries(
      async () => {
        tries.push(clock.now());
        if (tries.length === 1) throw new VoxlineError('VL_ERR_BATCH_ENGINE', '429', { retryAfterS: 7 });
        if (tries.length === 2) throw new VoxlineError('VL_ERR_BATCH_ENGINE', '503');
        return 'done';
      },
      retryable,
      { retries: 4, baseMs: 1_000, maxMs: 60_000, clock, random: () => 1 },
      new AbortController().signal,
    );
    await clock.advance(6_999);
    expect(tries).toEqual([0]);
    await clock.advance(1);
    expect(tries).toEqual([0, 7_000]);
    await clock.advance(2_000); // backoff after the second failure: base·2¹ at random 1
    await expect(result).resolves.toBe('done');
    expect(tries).toEqual([0, 7_000, 9_000]);
  });

  it('gives up at once on a refusal, and after its retries on the rest, with the last error and the count', async () => {
    const clock = new ManualClock();
    const signal = new AbortController().signal;
    const policy = { retries: 2, baseMs: 10, maxMs: 10, clock, random: () => 1 };
    const rejected = withRetries(
      async () => {
        throw new VoxlineError('VL_ERR_BATCH_REJECTED', '401');
      },
      retryable,
      policy,
      signal,
    );
    await expect(rejected).rejects.toMatchObject({ attempts: 1, cause: { code: 'VL_ERR_BATCH_REJECTED' } });
    let n = 0;
    const failing = withRetries(
      async () => {
        n++;
        throw new VoxlineError('VL_ERR_BATCH_ENGINE', `try ${n}`);
      },
      retryable,
      policy,
      signal,
    );
    const settled = failing.catch((err: unknown) => err);
    await clock.advance(10);
    await clock.advance(10);
    const err = await settled;
    expect(err).toBeInstanceOf(RetriesExhausted);
    expect(err).toMatchObject({ attempts: 3, cause: { message: expect.stringContaining('try 3') } });
  });

  it('stops waiting when aborted (shutdown)', async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    const run = withRetries(
      async () => {
        throw new VoxlineError('VL_ERR_BATCH_ENGINE', 'down');
      },
      retryable,
      { retries: 5, baseMs: 60_000, maxMs: 60_000, clock },
      stop.signal,
    );
    const settled = run.catch((err: unknown) => err);
    await new Promise((r) => setImmediate(r)); // the first try failed: now waiting a minute
    expect(clock.pending).toBe(1);
    stop.abort();
    // Settled without the clock moving: no second try.
    expect(await settled).toMatchObject({ attempts: 1, cause: { code: 'VL_ERR_BATCH_ENGINE' } });
  });
});

describe('the post-call queue', () => {
  it('runs at most `concurrency` jobs, keeps the rest in order, and refuses past its bound', async () => {
    const queue = new PostcallQueue(2, 2);
    const started: number[] = [];
    const gates: (() => void)[] = [];
    const job = (n: number) => () =>
      new Promise<void>((resolve) => {
        started.push(n);
        gates[n] = resolve;
      });
    expect([1, 2, 3, 4].map((n) => queue.offer(job(n)))).toEqual([true, true, true, true]);
    expect(queue.offer(job(5))).toBe(false); // 2 running, 2 waiting: full
    expect(started).toEqual([1, 2]);
    expect({ running: queue.running, waiting: queue.waiting }).toEqual({ running: 2, waiting: 2 });
    gates[2]?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    gates[1]?.();
    gates[3]?.();
    await new Promise((r) => setImmediate(r));
    gates[4]?.();
    await queue.idle();
    expect(started).toEqual([1, 2, 3, 4]);
  });

  it('goes on after a job that throws, and close() aborts what runs', async () => {
    const queue = new PostcallQueue(1, 10);
    queue.offer(async () => {
      throw new Error('a bug in one job');
    });
    let aborted = false;
    queue.offer(
      (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
    );
    await new Promise((r) => setImmediate(r));
    expect(queue.running).toBe(1);
    await queue.close();
    expect(aborted).toBe(true);
    expect(queue.offer(async () => undefined)).toBe(false);
  });
});

describe('context bias', () => {
  it('cleans configured terms and reports too many or too long', () => {
    expect(checkContextBias([' Northwind ', 'northwind', 'Alder   Creek Design', ''])).toEqual({
      terms: ['Northwind', 'Alder Creek Design'],
      problems: [],
    });
    const many = checkContextBias(Array.from({ length: 101 }, (_, i) => `term${i}`));
    expect(many.problems).toEqual(['101 terms: at most 100']);
    expect(checkContextBias(['x'.repeat(65)]).problems[0]).toMatch(/longer than 64/);
  });

  it('adds a call’s own vocabulary after the configured terms, cut at 100, long ones dropped', () => {
    const configured = Array.from({ length: 98 }, (_, i) => `c${i}`);
    expect(callContextBias(['Northwind'], { vocabulary: 'Quillara, northwind,  Rotterdam ' })).toEqual([
      'Northwind',
      'Quillara',
      'Rotterdam',
    ]);
    const cut = callContextBias(configured, { vocabulary: `a,${'y'.repeat(80)},b,c` });
    expect(cut).toHaveLength(100);
    expect(cut.slice(-2)).toEqual(['a', 'b']);
  });
});
