import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CallRegistry } from '../../src/calls/call-registry.js';
import {
  LoadGovernor,
  type LoadSample,
  OverloadedError,
  type OverloadLimits,
} from '../../src/calls/load-governor.js';
import { SystemLoadSampler } from '../../src/calls/system-load-sampler.js';
import { isVoxlineError } from '../../src/errors.js';
import { OverloadMetrics } from '../../src/observability/overload-metrics.js';
import { ManualClock } from '../helpers/manual-clock.js';

const CALM: LoadSample = { lagMs: 5, cpuPercent: 10, rssMb: 200 };
const LIMITS: OverloadLimits = { maxLagMs: 100, maxCpuPercent: 90, maxRssMb: 1000, retryAfterS: 7 };

/** A sampler that reports whatever the test last set, and counts its start and stop. */
class FedSampler {
  now: LoadSample = CALM;
  reads = 0;
  started = 0;
  stopped = 0;
  start(): void {
    this.started++;
  }
  sample(): LoadSample {
    this.reads++;
    return this.now;
  }
  stop(): void {
    this.stopped++;
  }
}

function setup(limits: Partial<OverloadLimits> = {}) {
  const clock = new ManualClock();
  const sampler = new FedSampler();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const governor = new LoadGovernor({ limits: { ...LIMITS, ...limits }, sampler, clock, log });
  governor.start();
  /** Feeds `sample` for `n` sampling intervals (0.5 s each). */
  const feed = async (sample: Partial<LoadSample>, n: number) => {
    sampler.now = { ...CALM, ...sample };
    await clock.advance(500 * n);
  };
  return { clock, sampler, governor, feed, lines };
}

describe('LoadGovernor', () => {
  it('takes calls while every measure is under its limit', async () => {
    const { governor, feed, sampler } = setup();
    await feed({ lagMs: 99, cpuPercent: 89, rssMb: 999 }, 10);
    expect(sampler.reads).toBe(10);
    expect(governor.state).toMatchObject({ overloaded: false, reason: undefined });
    expect(governor.refusal()).toBeUndefined();
  });

  it.each([
    ['event_loop_lag', { lagMs: 250 }],
    ['cpu', { cpuPercent: 97 }],
    ['memory', { rssMb: 1500 }],
  ] as const)('goes overloaded on %s once it is over its limit two samples in a row', async (reason, sample) => {
    const { governor, feed, clock, lines } = setup();
    await feed(sample, 1);
    expect(governor.state.overloaded).toBe(false); // one slow interval (a GC pause) is not overload
    await feed(sample, 1);
    expect(governor.state).toMatchObject({ overloaded: true, reason, since: clock.wallNow() });
    const refusal = governor.refusal();
    expect(refusal).toBeInstanceOf(OverloadedError);
    expect(refusal).toMatchObject({ code: 'VL_ERR_OVERLOADED', statusCode: 503, reason, retryAfterS: 7 });
    expect(refusal?.message).toMatch(/^overloaded: .*live calls go on.*: .*retry in 7 s$/);
    expect(lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({ reason, msg: expect.stringMatching(/^overloaded: refusing new calls/) }),
    ]);
  });

  it('does not trip on over-limit samples that are not consecutive', async () => {
    const { governor, feed } = setup();
    for (let i = 0; i < 5; i++) {
      await feed({ lagMs: 400 }, 1);
      await feed({}, 1);
    }
    expect(governor.state.overloaded).toBe(false);
  });

  it('stays overloaded until every measure is under 80 % of its limit for four samples in a row (no flapping)', async () => {
    const { governor, feed, lines } = setup();
    await feed({ lagMs: 150 }, 2);
    expect(governor.state.overloaded).toBe(true);
    // Under the limit but above 80 % of it: still overloaded, however long.
    await feed({ lagMs: 85 }, 20);
    expect(governor.state.overloaded).toBe(true);
    // Calm for three samples, then one back near the limit: the count starts again.
    await feed({ lagMs: 10 }, 3);
    await feed({ lagMs: 90 }, 1);
    await feed({ lagMs: 10 }, 3);
    expect(governor.state.overloaded).toBe(true);
    await feed({ lagMs: 10 }, 1);
    expect(governor.state).toMatchObject({ overloaded: false, reason: undefined, since: undefined });
    expect(governor.refusal()).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({
      reason: 'event_loop_lag',
      refused: 0,
      msg: expect.stringMatching(/^load back/),
    });
  });

  it('recovers only when every measure is calm, and names the measure still over its limit', async () => {
    const { governor, feed } = setup();
    await feed({ lagMs: 150 }, 2);
    await feed({ lagMs: 5, rssMb: 1200 }, 6); // lag recovered, memory did not
    expect(governor.state).toMatchObject({ overloaded: true, reason: 'memory' });
    await feed({ rssMb: 850 }, 6); // under the limit, not under 80 % of it
    expect(governor.state).toMatchObject({ overloaded: true, reason: 'memory' });
    await feed({ rssMb: 700 }, 4);
    expect(governor.state.overloaded).toBe(false);
  });

  it('counts each refusal under the measure that caused it, and goes overloaded again after recovering', async () => {
    const { governor, feed } = setup();
    await feed({ cpuPercent: 95 }, 2);
    governor.refusal();
    governor.refusal();
    await feed({}, 4);
    await feed({ lagMs: 300 }, 2);
    governor.refusal();
    expect(Object.fromEntries(governor.refusals())).toEqual({ event_loop_lag: 1, cpu: 2, memory: 0 });
  });

  it('ignores a measure whose limit is 0, and measures nothing when every limit is 0', async () => {
    const one = setup({ maxCpuPercent: 0 });
    await one.feed({ cpuPercent: 100 }, 10);
    expect(one.governor.state.overloaded).toBe(false);
    await one.feed({ lagMs: 120 }, 2);
    expect(one.governor.state.reason).toBe('event_loop_lag');

    const none = setup({ maxLagMs: 0, maxCpuPercent: 0, maxRssMb: 0 });
    expect(none.governor.enabled).toBe(false);
    await none.feed({ lagMs: 10_000, cpuPercent: 100, rssMb: 1e6 }, 10);
    expect(none.sampler.reads).toBe(0);
    expect(none.clock.pending).toBe(0);
  });

  it('starts and stops the sampler with its timer, which is cleared on stop', async () => {
    const { governor, sampler, clock, feed } = setup();
    expect(sampler.started).toBe(1);
    expect(clock.pending).toBe(1);
    governor.start(); // twice: still one timer
    expect(clock.pending).toBe(1);
    governor.stop();
    expect(clock.pending).toBe(0);
    expect(sampler.stopped).toBe(1);
    await feed({ lagMs: 1000 }, 10);
    expect(sampler.reads).toBe(0);
  });

  it('is what CallRegistry.assertAccepting consults: VL_ERR_OVERLOADED after the capacity and drain checks', async () => {
    const { governor, feed } = setup();
    const registry = new CallRegistry({
      maxLiveCalls: 10,
      historyLimit: 10,
      idleTimeoutMs: 10_000,
      timing: { reorderWindowMs: 60, maxFillMs: 1000, maxQueued: 64 },
      consumers: [],
      log: pino({ level: 'silent' }),
      governor,
    });
    expect(() => registry.assertAccepting()).not.toThrow();
    await feed({ rssMb: 5000 }, 2);
    let thrown: unknown;
    try {
      registry.assertAccepting();
    } catch (err) {
      thrown = err;
    }
    expect(isVoxlineError(thrown, 'VL_ERR_OVERLOADED')).toBe(true);
    expect(thrown).toMatchObject({ reason: 'memory', retryAfterS: 7 });
    expect(governor.refusals().get('memory')).toBe(1);
  });

  it('shows in the metrics: voxline_overloaded by reason, and refusals by reason', async () => {
    const { governor, feed } = setup();
    const registry = new Registry();
    new OverloadMetrics(registry, governor);
    const scrape = async () => (await registry.metrics()).split('\n').filter((l) => !l.startsWith('#'));
    expect(await scrape()).toEqual(
      expect.arrayContaining([
        'voxline_overloaded{reason="event_loop_lag"} 0',
        'voxline_overloaded{reason="cpu"} 0',
        'voxline_overloaded{reason="memory"} 0',
        'voxline_overload_refusals_total{reason="cpu"} 0',
      ]),
    );
    await feed({ cpuPercent: 99 }, 2);
    governor.refusal();
    expect(await scrape()).toEqual(
      expect.arrayContaining([
        'voxline_overloaded{reason="event_loop_lag"} 0',
        'voxline_overloaded{reason="cpu"} 1',
        'voxline_overload_refusals_total{reason="cpu"} 1',
        'voxline_overload_refusals_total{reason="memory"} 0',
      ]),
    );
  });
});

describe('SystemLoadSampler', () => {
  it('reads CPU time over wall time as a percent of the CPUs, and RSS in MiB', async () => {
    const clock = new ManualClock();
    let cpuUs = 0;
    const sampler = new SystemLoadSampler({
      clock,
      cpus: 4,
      cpuUsage: () => ({ user: cpuUs * 0.75, system: cpuUs * 0.25 }),
      rssBytes: () => 512 * 1_048_576,
    });
    sampler.start();
    try {
      cpuUs = 1_000_000; // 1 s of CPU in 0.5 s of wall time: 2 of 4 CPUs
      clock.stall(500);
      expect(sampler.sample()).toMatchObject({ cpuPercent: 50, rssMb: 512 });
      cpuUs += 2_000_000; // 4 of 4
      clock.stall(500);
      expect(sampler.sample().cpuPercent).toBe(100);
      clock.stall(500); // idle
      const idle = sampler.sample();
      expect(idle.cpuPercent).toBe(0);
      expect(idle.lagMs).toBeGreaterThanOrEqual(0);
    } finally {
      sampler.stop();
    }
  });
});
