import type { FastifyBaseLogger } from 'fastify';
import type { Clock, TimerHandle } from '../clock.js';
import { VoxlineError } from '../errors.js';

/** What put the gateway into overload; also the label value of its metrics (a fixed set). */
export type OverloadReason = 'event_loop_lag' | 'cpu' | 'memory';

export const OVERLOAD_REASONS: readonly OverloadReason[] = ['event_loop_lag', 'cpu', 'memory'];

/** One reading of the process's load, over the interval since the previous one. */
export interface LoadSample {
  /** Event-loop lag, p99 over the interval, in ms. */
  readonly lagMs: number;
  /** Process CPU time over wall time, as a percent of the CPUs the process may use (0–100). */
  readonly cpuPercent: number;
  /** Resident set size now, in MiB. */
  readonly rssMb: number;
}

/** Where samples come from: the process (SystemLoadSampler), or numbers a test feeds. */
export interface LoadSampler {
  /** Begins measuring (called when the governor starts). */
  start?(): void;
  /** The load since the previous sample (since start, for the first). */
  sample(): LoadSample;
  /** Stops measuring (called when the governor stops). */
  stop?(): void;
}

/** The limits (OVERLOAD_* settings); 0 turns a measure off. */
export interface OverloadLimits {
  readonly maxLagMs: number;
  readonly maxCpuPercent: number;
  readonly maxRssMb: number;
  /** Sent with each refusal as Retry-After. */
  readonly retryAfterS: number;
}

export interface LoadGovernorOptions {
  readonly limits: OverloadLimits;
  readonly sampler: LoadSampler;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  /** How often the sampler is read (500 ms by default). */
  readonly intervalMs?: number;
  /**
   * Consecutive samples over a limit before new calls are refused (2 by default: one GC pause or
   * one slow tick is not overload, a second interval in a row is).
   */
  readonly tripSamples?: number;
  /** Consecutive samples with every measure under `recoverFraction` of its limit before calls are taken again (4). */
  readonly recoverSamples?: number;
  /** The fraction of a limit a measure must fall under to count towards recovery (0.8). */
  readonly recoverFraction?: number;
}

/** The governor as /healthz, /readyz and the metrics show it. */
export interface LoadState {
  readonly overloaded: boolean;
  /** The measure over its limit (the last one to be, while overloaded); undefined while not. */
  readonly reason: OverloadReason | undefined;
  /** Wall-clock ms since the Unix epoch when this overload began. */
  readonly since: number | undefined;
  /** The latest sample (undefined before the first). */
  readonly last: LoadSample | undefined;
  readonly limits: OverloadLimits;
}

/** VL_ERR_OVERLOADED, with the measure that caused it and when to try again. */
export class OverloadedError extends VoxlineError {
  readonly reason: OverloadReason;
  override readonly retryAfterS: number;

  constructor(reason: OverloadReason, retryAfterS: number) {
    super('VL_ERR_OVERLOADED', `${reason} over its limit, retry in ${retryAfterS} s`, { retryAfterS });
    this.reason = reason;
    this.retryAfterS = retryAfterS;
  }
}

const MEASURES: readonly {
  reason: OverloadReason;
  value: (s: LoadSample) => number;
  limit: keyof OverloadLimits;
}[] = [
  { reason: 'event_loop_lag', value: (s) => s.lagMs, limit: 'maxLagMs' },
  { reason: 'cpu', value: (s) => s.cpuPercent, limit: 'maxCpuPercent' },
  { reason: 'memory', value: (s) => s.rssMb, limit: 'maxRssMb' },
];

/**
 * Admission control from measured load: samples the process on a timer and, once a measure has
 * been over its limit for `tripSamples` samples in a row, refuses new calls (OverloadedError) until
 * every measure has stayed under `recoverFraction` of its limit for `recoverSamples` samples (so
 * it does not flap at the edge). It never touches a live call: shedding load means taking no more
 * of it, not cutting callers off mid-sentence.
 */
export class LoadGovernor {
  readonly #options: LoadGovernorOptions;
  readonly #measures: typeof MEASURES;
  readonly #refusals = new Map<OverloadReason, number>(OVERLOAD_REASONS.map((r) => [r, 0]));
  #timer: TimerHandle | undefined;
  #last: LoadSample | undefined;
  #reason: OverloadReason | undefined;
  #since: number | undefined;
  #overStreak = 0;
  #calmStreak = 0;
  #refusedThisEpisode = 0;

  constructor(options: LoadGovernorOptions) {
    this.#options = options;
    this.#measures = MEASURES.filter((m) => options.limits[m.limit] > 0);
  }

  /** Whether any limit is set (with none, start() measures nothing). */
  get enabled(): boolean {
    return this.#measures.length > 0;
  }

  /** Starts sampling (a no-op when every limit is 0 or it has started). The timer is unref'd. */
  start(): void {
    if (this.#timer || !this.enabled) return;
    this.#options.sampler.start?.();
    this.#timer = this.#options.clock.setInterval(() => {
      // A timer's throw would end the process: a reading that fails is logged and skipped.
      try {
        this.sample();
      } catch (err) {
        this.#options.log.error({ err }, 'load sample failed: skipped');
      }
    }, this.#options.intervalMs ?? 500);
    this.#timer.unref();
  }

  stop(): void {
    if (!this.#timer) return;
    this.#options.clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#options.sampler.stop?.();
  }

  /** Reads the sampler once and moves the state (the timer calls this; so may a test). */
  sample(): void {
    const sample = this.#options.sampler.sample();
    this.#last = sample;
    const { limits } = this.#options;
    const over = this.#measures.find((m) => m.value(sample) > limits[m.limit]);
    if (this.#reason === undefined) {
      this.#overStreak = over ? this.#overStreak + 1 : 0;
      if (over && this.#overStreak >= (this.#options.tripSamples ?? 2)) this.#trip(over.reason, sample);
      return;
    }
    const fraction = this.#options.recoverFraction ?? 0.8;
    if (over) this.#reason = over.reason;
    const calm = this.#measures.every((m) => m.value(sample) < limits[m.limit] * fraction);
    this.#calmStreak = calm ? this.#calmStreak + 1 : 0;
    if (this.#calmStreak >= (this.#options.recoverSamples ?? 4)) this.#recover(sample);
  }

  get state(): LoadState {
    return {
      overloaded: this.#reason !== undefined,
      reason: this.#reason,
      since: this.#since,
      last: this.#last,
      limits: this.#options.limits,
    };
  }

  /** The refusal a new call gets now, counted as one; undefined while calls are taken. */
  refusal(): OverloadedError | undefined {
    if (this.#reason === undefined) return undefined;
    this.#refusals.set(this.#reason, (this.#refusals.get(this.#reason) ?? 0) + 1);
    this.#refusedThisEpisode++;
    return new OverloadedError(this.#reason, this.#options.limits.retryAfterS);
  }

  /** New calls refused since start, by reason (every reason present, from 0). */
  refusals(): ReadonlyMap<OverloadReason, number> {
    return this.#refusals;
  }

  #trip(reason: OverloadReason, sample: LoadSample): void {
    this.#reason = reason;
    this.#since = this.#options.clock.wallNow();
    this.#calmStreak = 0;
    this.#refusedThisEpisode = 0;
    this.#options.log.warn(
      { reason, sample, limits: this.#options.limits },
      'overloaded: refusing new calls until the load falls (live calls go on)',
    );
  }

  #recover(sample: LoadSample): void {
    const forMs = this.#options.clock.wallNow() - (this.#since ?? 0);
    this.#options.log.info(
      { reason: this.#reason, forMs, refused: this.#refusedThisEpisode, sample },
      'load back under the limits: taking new calls again',
    );
    this.#reason = undefined;
    this.#since = undefined;
    this.#overStreak = 0;
    this.#calmStreak = 0;
  }
}
