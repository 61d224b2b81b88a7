import { describe, expect, it } from 'vitest';
import { LogBudget } from '../../src/observability/log-budget.js';

describe('LogBudget', () => {
  it('warns for the first lines of a kind in a window, then debug until the next window; kinds are separate', () => {
    let now = 0;
    const budget = new LogBudget(3, 60_000, () => now);
    const levels = Array.from({ length: 5 }, () => budget.level('refused'));
    expect(levels).toEqual(['warn', 'warn', 'warn', 'debug', 'debug']);
    expect(budget.level('malformed')).toBe('warn');
    now = 60_000;
    expect(budget.level('refused')).toBe('warn');
  });
});
