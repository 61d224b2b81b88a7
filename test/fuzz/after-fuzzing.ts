import { expect } from 'vitest';
import { type BenchReport, closeBench, type FuzzBench } from './harness.js';

/**
 * The check every edge's fuzz file ends with: the bench closes cleanly, the call beside the
 * fuzzing has every frame exactly once, no descriptor is left open, and nothing crashed.
 */
export async function expectLeftIntact(bench: FuzzBench): Promise<BenchReport> {
  const report = await closeBench(bench);
  expect(report.problems).toEqual([]);
  expect(report.beside.problems).toEqual([]);
  expect(report.fdsAfter).toBeLessThanOrEqual(report.fdsBefore);
  expect(bench.crashes.total).toBe(0);
  return report;
}
