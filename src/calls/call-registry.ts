import type { FastifyBaseLogger } from 'fastify';
import type { CallStart, CallTransport, OutboundAudio } from '../carriers/carrier.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { callRedaction, type RedactionConfig } from '../compliance/redaction-config.js';
import { VoxlineError } from '../errors.js';
import { type CallCounts, endReasonLabel, type LegTotals, trackLabel } from '../observability/metrics.js';
import { Call, type CallObserver, type CallPrivacy } from './call.js';
import type { Leg, LegConsumer, LegTiming } from './leg.js';
import type { LoadGovernor, OverloadedError } from './load-governor.js';

/** Builds a consumer for a leg when its call starts (or returns undefined to skip the leg). */
export type LegConsumerFactory = (call: Call, leg: Leg) => LegConsumer | undefined;

/** The call parameter that starts a call paused (recording and transcription off until resumed). */
export const START_PAUSED_PARAMETER = 'paused';

export interface CallRegistryOptions {
  readonly maxLiveCalls: number;
  readonly historyLimit: number;
  readonly idleTimeoutMs: number;
  readonly timing: LegTiming;
  readonly consumers: readonly LegConsumerFactory[];
  readonly observers?: readonly CallObserver[];
  readonly log: FastifyBaseLogger;
  /** The clock each call's scope (and so its timers) runs on; the system clock by default. */
  readonly clock?: Clock;
  /** What calls are redacted of (none by default). */
  readonly redaction?: RedactionConfig;
  /** Refuses new calls while the process is overloaded (none: only the limits above refuse). */
  readonly governor?: Pick<LoadGovernor, 'refusal'>;
}

/**
 * Live calls by CallSid, plus a bounded history of ended ones so their stats stay readable
 * after hang-up. Also the idle sweep and the drain on shutdown.
 */
export class CallRegistry implements CallCounts {
  readonly #live = new Map<string, Call>();
  readonly #ended = new Map<string, Call>();
  readonly #trackTotals = new Map<string, LegTotals>();
  /** By endReasonLabel: the full reason (with the peer's detail) stays on the call. */
  readonly #endReasons = new Map<string, number>();
  readonly #byIngress = new Map<string, number>();
  readonly #options: CallRegistryOptions;
  #draining = false;
  #sweep: TimerHandle | undefined;
  #drained: (() => void) | undefined;

  constructor(options: CallRegistryOptions) {
    this.#options = options;
  }

  #privacy(start: CallStart): CallPrivacy {
    const { redaction } = this.#options;
    if (!redaction) return { dtmf: false };
    const transcript = callRedaction(redaction, start.customParameters);
    // The recording is redacted of whatever the transcript or the key presses are.
    const audio = transcript || redaction.dtmf ? redaction.audio : undefined;
    return { transcript, dtmf: redaction.dtmf, audio };
  }

  get draining(): boolean {
    return this.#draining;
  }

  get liveCount(): number {
    return this.#live.size;
  }

  /** Throws a VoxlineError when the call cannot be taken now; call before accepting media. */
  assertAccepting(): void {
    if (this.#draining) throw new VoxlineError('VL_ERR_DRAINING');
    if (this.#live.size >= this.#options.maxLiveCalls) {
      throw new VoxlineError('VL_ERR_CAPACITY', `limit is ${this.#options.maxLiveCalls}`);
    }
    const overload = this.overload();
    if (overload) throw overload;
  }

  /**
   * The load governor's refusal of a new call now (counted as a refusal), or undefined. Live calls
   * are never asked about: only new ones are refused.
   */
  overload(): OverloadedError | undefined {
    return this.#options.governor?.refusal();
  }

  /** Opens a call; `outbound` is the audio path back into it when the carrier is bidirectional. */
  open(start: CallStart, transport: CallTransport, log: FastifyBaseLogger, outbound?: OutboundAudio): Call {
    this.assertAccepting();
    if (this.#live.has(start.callSid)) throw new VoxlineError('VL_ERR_DUPLICATE_CALL', start.callSid);
    this.#ended.delete(start.callSid);
    const call = new Call(
      start,
      transport,
      log,
      this.#options.timing,
      (ended) => this.#onEnd(ended),
      this.#options.observers,
      this.#options.clock,
      outbound,
      this.#privacy(start),
    );
    this.#live.set(start.callSid, call);
    this.#byIngress.set(start.ingress, (this.#byIngress.get(start.ingress) ?? 0) + 1);
    for (const leg of call.legs.values()) {
      for (const factory of this.#options.consumers) {
        // One consumer that cannot start (a full disk for the recorder) must not cost the call
        // its other consumers, nor leave it half-open in the registry.
        try {
          const consumer = factory(call, leg);
          if (consumer) leg.attach(consumer);
        } catch (err) {
          leg.consumerFailed(err);
        }
      }
    }
    call.announceStart();
    // A call can start in secure mode (its `paused` parameter), resumed through the API.
    if (start.customParameters[START_PAUSED_PARAMETER] === 'true') call.pause('parameter');
    return call;
  }

  get(callSid: string): Call | undefined {
    return this.#live.get(callSid) ?? this.#ended.get(callSid);
  }

  live(): Call[] {
    return [...this.#live.values()];
  }

  /** Erasure: an ended call leaves the history at once (a live one cannot be forgotten). */
  forget(callSid: string): boolean {
    return this.#ended.delete(callSid);
  }

  ended(): Call[] {
    return [...this.#ended.values()];
  }

  /** Per-track totals, ended calls plus live ones, read when /metrics is scraped. */
  trackTotals(): Map<string, LegTotals> {
    const totals = new Map<string, LegTotals>();
    for (const [track, t] of this.#trackTotals) totals.set(track, { ...t });
    for (const call of this.#live.values()) for (const leg of call.legs.values()) addLeg(totals, leg);
    return totals;
  }

  /** Calls ended since start, by endReasonLabel. */
  endReasons(): ReadonlyMap<string, number> {
    return this.#endReasons;
  }

  /** Calls opened since start, by ingress. */
  ingressCounts(): ReadonlyMap<string, number> {
    return this.#byIngress;
  }

  /** Live calls that came in through `ingress`. */
  liveCountOf(ingress: string): number {
    let n = 0;
    for (const call of this.#live.values()) if (call.start.ingress === ingress) n++;
    return n;
  }

  /** Starts closing calls whose carrier has gone quiet for longer than the idle timeout. */
  startIdleSweep(): void {
    const { idleTimeoutMs } = this.#options;
    const clock = this.#options.clock ?? systemClock;
    this.#sweep ??= clock.setInterval(
      () => {
        const now = clock.now();
        for (const call of this.#live.values()) {
          if (call.idleFor(idleTimeoutMs, now)) {
            call.log.warn({ idleTimeoutMs }, 'no message from the carrier within the idle timeout: closing');
            void call.hangUp(4000, 'idle timeout', 'idle_timeout');
          }
        }
      },
      Math.max(10, Math.min(1000, idleTimeoutMs / 4)),
    );
    this.#sweep.unref();
  }

  /**
   * Stops taking calls, waits up to `timeoutMs` for live ones to end on their own, then closes the
   * rest (WebSocket 1001) and finalizes them.
   */
  async drain(timeoutMs: number): Promise<{ endedOnTheirOwn: number; closed: number }> {
    this.#draining = true;
    const before = this.#live.size;
    if (before > 0) {
      this.#options.log.info({ liveCalls: before, timeoutMs }, 'draining live calls');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const remaining = this.live();
    await Promise.all(remaining.map((call) => call.hangUp(1001, 'server shutting down', 'shutdown')));
    (this.#options.clock ?? systemClock).clearInterval(this.#sweep);
    return { endedOnTheirOwn: before - remaining.length, closed: remaining.length };
  }

  #onEnd(call: Call): void {
    this.#live.delete(call.callSid);
    for (const leg of call.legs.values()) addLeg(this.#trackTotals, leg);
    const reason = call.endReason ?? 'unknown';
    const counted = endReasonLabel(reason);
    this.#endReasons.set(counted, (this.#endReasons.get(counted) ?? 0) + 1);
    this.#ended.set(call.callSid, call);
    if (this.#ended.size > this.#options.historyLimit) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
    call.log.info({ reason, legs: [...call.legs.values()].map((l) => l.stats()) }, 'call ended');
    if (this.#live.size === 0) this.#drained?.();
  }
}

function addLeg(totals: Map<string, LegTotals>, leg: Leg): void {
  const s = leg.stats();
  const track = trackLabel(s.track);
  const t = totals.get(track) ?? { framesReceived: 0, gapFilledMs: 0, framesDropped: 0 };
  t.framesReceived += s.framesReceived;
  t.gapFilledMs += s.gapFilledMs;
  t.framesDropped += s.framesDropped;
  totals.set(track, t);
}
