import { describe, expect, it } from 'vitest';
import { GroupCommit, GroupCommitFullError } from '../../src/webhooks/group-commit.js';

/* Group commit: batches, all or one by one, and a bound on what may wait. */

describe('GroupCommit', () => {
  it('commits what was submitted meanwhile as one batch, in order, each request settling with its own result', async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<number, string>((batch) => {
      batches.push([...batch]);
      return batch.map((n) => `#${n}`);
    });
    const results = await Promise.all([1, 2, 3].map((n) => group.submit(n)));
    expect(results).toEqual(['#1', '#2', '#3']);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('a batch that fails is retried one by one: the bad request fails alone', async () => {
    const group = new GroupCommit<number, number>((batch) => {
      if (batch.includes(2)) throw new Error('constraint failed');
      return batch.map((n) => n * 10);
    });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => group.submit(n)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : 'failed'))).toEqual([10, 'failed', 30]);
  });

  it('refuses at once what would wait beyond its bound, and takes requests again once the store caught up', async () => {
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => {
      release = resolve;
    });
    const group = new GroupCommit<number, number>(async (batch) => {
      await stuck; // a database far behind
      return [...batch];
    }, 3);
    const first = group.submit(0); // taken into the commit that hangs
    await new Promise((resolve) => setImmediate(resolve));
    const waiting = [1, 2, 3].map((n) => group.submit(n));
    await expect(group.submit(4)).rejects.toBeInstanceOf(GroupCommitFullError);
    release();
    expect(await Promise.all([first, ...waiting])).toEqual([0, 1, 2, 3]);
    expect(await group.submit(5)).toBe(5);
  });
});
