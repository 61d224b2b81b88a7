import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import type { LoadSample, LoadSampler } from './load-governor.js';

/** How finely the event-loop delay is sampled; an idle loop reads this much, so it is taken off. */
const LAG_RESOLUTION_MS = 10;

export interface SystemLoadSamplerOptions {
  readonly clock: Clock;
  /** The CPUs the process may use (os.availableParallelism()): 100 % is all of them busy. */
  readonly cpus: number;
  /** Process readers, the real ones by default. */
  readonly cpuUsage?: () => NodeJS.CpuUsage;
  readonly rssBytes?: () => number;
}

/**
 * The process's own load: event-loop lag (perf_hooks' delay histogram, p99 of each interval, then
 * reset), CPU time (user + system, every thread: the speech model's too) over wall time, and RSS.
 */
export class SystemLoadSampler implements LoadSampler {
  readonly #options: SystemLoadSamplerOptions;
  #histogram: IntervalHistogram | undefined;
  #cpu: NodeJS.CpuUsage | undefined;
  #at = 0;

  constructor(options: SystemLoadSamplerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#histogram ??= monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.#histogram.enable();
    this.#cpu = (this.#options.cpuUsage ?? process.cpuUsage)();
    this.#at = this.#options.clock.now();
  }

  sample(): LoadSample {
    const { clock, cpus } = this.#options;
    const cpuUsage = this.#options.cpuUsage ?? process.cpuUsage;
    const now = clock.now();
    const total = cpuUsage();
    const before = this.#cpu ?? total;
    this.#cpu = total;
    const wallMs = now - this.#at;
    this.#at = now;
    const cpuMs = (total.user - before.user + total.system - before.system) / 1000;
    const histogram = this.#histogram;
    // No reading in the interval (none yet, or the loop blocked throughout): the next one has it.
    const p99Ms = histogram && histogram.count > 0 ? histogram.percentile(99) / 1e6 : LAG_RESOLUTION_MS;
    histogram?.reset();
    return {
      lagMs: Math.max(0, p99Ms - LAG_RESOLUTION_MS),
      cpuPercent: wallMs > 0 ? Math.min(100, (100 * cpuMs) / wallMs / Math.max(1, cpus)) : 0,
      rssMb: (this.#options.rssBytes ?? process.memoryUsage.rss)() / 1_048_576,
    };
  }

  stop(): void {
    this.#histogram?.disable();
  }
}
