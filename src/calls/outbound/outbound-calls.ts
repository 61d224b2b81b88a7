import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock, TimerHandle } from '../../clock.js';
import { isVoxlineError, VoxlineError } from '../../errors.js';
import type { EventData } from '../../webhooks/event-schemas.js';
import type { DialCarrier, Dialer, DialOutcome, DialRequest, DialUpdate } from './dialer.js';
import { TokenBucket } from './token-bucket.js';

export type DialInput = Omit<DialRequest, 'id'> & { readonly carrier: DialCarrier };

export type AttemptStatus = 'dialing' | 'ringing' | 'answered' | 'ended';

/** An attempt as GET /v1/calls/dial/:dialId shows it. */
export interface DialAttemptView {
  readonly id: string;
  readonly carrier: DialCarrier;
  readonly to: string;
  readonly from: string;
  readonly mode: DialRequest['mode'];
  readonly status: AttemptStatus;
  readonly outcome: DialOutcome | null;
  readonly detail: string | null;
  /** The SIP status of a refused INVITE. */
  readonly carrierStatus: number | null;
  readonly carrierCallId: string | null;
  /** Answered: the call's callSid (GET /v1/calls/:callSid). */
  readonly callSid: string | null;
  readonly answeredBy: 'human' | 'machine' | 'unknown' | null;
  readonly createdAt: string;
  readonly answeredAt: string | null;
  readonly endedAt: string | null;
}

export interface OutboundCallsOptions {
  /** The dialer of each configured carrier; `addDialer` adds one later (the SIP dialer). */
  readonly dialers: ReadonlyMap<DialCarrier, Dialer>;
  /** Attempts dialling or ringing at once, per carrier. */
  readonly maxConcurrent: number;
  /** New attempts per second, per carrier (token bucket). */
  readonly callsPerSecond: number;
  readonly clock: Clock;
  /** Commits `call.dialed` (the envelope's callSid is the dial id). */
  readonly publish: (
    dial: { callSid: string; log: FastifyBaseLogger },
    data: EventData<'call.dialed'>,
  ) => void;
  readonly log: FastifyBaseLogger;
  /** Finished attempts kept for GET (oldest evicted first). */
  readonly finishedKept?: number;
}

/** A carrier that never reports an outcome must not hold its slot for ever: this long past the ring timeout. */
const OUTCOME_GRACE_MS = 60_000;
const FINISHED_KEPT = 1000;

interface Attempt {
  readonly request: DialRequest;
  readonly carrier: DialCarrier;
  readonly createdAt: number;
  status: AttemptStatus;
  outcome?: DialOutcome;
  detail?: string;
  carrierStatus?: number;
  carrierCallId?: string;
  callSid?: string;
  answeredBy?: 'human' | 'machine' | 'unknown';
  answeredAt?: number;
  endedAt?: number;
  watchdog?: TimerHandle;
}

/**
 * Outbound attempts: admission (a dialer for the carrier, its concurrency cap and rate limit),
 * the hand-off to the Dialer, and a bounded table of attempts whose outcome is published once as
 * `call.dialed`. An attempt holds its carrier's slot until it is answered or ended; once answered
 * it is an ordinary call, which the carrier's inbound edge opens.
 */
export class OutboundCalls {
  readonly #o: OutboundCallsOptions;
  readonly #dialers: Map<DialCarrier, Dialer>;
  readonly #attempts = new Map<string, Attempt>();
  readonly #inFlight = new Map<DialCarrier, number>();
  readonly #buckets = new Map<DialCarrier, TokenBucket>();
  readonly #finished: string[] = [];
  #closed = false;

  constructor(options: OutboundCallsOptions) {
    this.#o = options;
    this.#dialers = new Map(options.dialers);
  }

  /** Adds (or replaces) the dialer of its carrier: the SIP dialer once its server listens. */
  addDialer(dialer: Dialer): void {
    this.#dialers.set(dialer.carrier, dialer);
  }

  get carriers(): DialCarrier[] {
    return [...this.#dialers.keys()];
  }

  inFlight(carrier: DialCarrier): number {
    return this.#inFlight.get(carrier) ?? 0;
  }

  get(dialId: string): DialAttemptView | undefined {
    const attempt = this.#attempts.get(dialId);
    return attempt && view(attempt);
  }

  /**
   * Admits and places an attempt. Resolves once the carrier has accepted it; throws
   * VL_ERR_DIALER_NOT_CONFIGURED, VL_ERR_DIAL_LIMIT (with retryAfterS) or the dialer's refusal,
   * after which nothing of the attempt is kept.
   */
  async dial(input: DialInput): Promise<DialAttemptView> {
    if (this.#closed) throw new VoxlineError('VL_ERR_DRAINING');
    const { carrier, ...rest } = input;
    const dialer = this.#dialers.get(carrier);
    if (!dialer) throw new VoxlineError('VL_ERR_DIALER_NOT_CONFIGURED', carrier);
    const { maxConcurrent, callsPerSecond } = this.#o;
    if (this.inFlight(carrier) >= maxConcurrent) {
      throw new VoxlineError('VL_ERR_DIAL_LIMIT', `${maxConcurrent} ${carrier} attempts at once`, {
        retryAfterS: 1,
      });
    }
    const waitMs = this.#bucket(carrier).take();
    if (waitMs > 0) {
      throw new VoxlineError('VL_ERR_DIAL_LIMIT', `${callsPerSecond} ${carrier} attempts a second`, {
        retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)),
      });
    }
    const request: DialRequest = { id: `dial_${randomBytes(12).toString('hex')}`, ...rest };
    const attempt: Attempt = { request, carrier, createdAt: this.#o.clock.wallNow(), status: 'dialing' };
    this.#attempts.set(request.id, attempt);
    this.#inFlight.set(carrier, this.inFlight(carrier) + 1);
    attempt.watchdog = this.#o.clock.setTimeout(
      () => this.#overdue(attempt, dialer),
      request.ringTimeoutMs + OUTCOME_GRACE_MS,
    );
    attempt.watchdog.unref();
    let placed: { carrierCallId: string };
    try {
      placed = await dialer.place(request, (update) => this.#update(attempt, update));
    } catch (err) {
      this.#release(attempt);
      this.#attempts.delete(request.id);
      if (isVoxlineError(err)) throw err;
      this.#o.log.error({ err, dialId: request.id, carrier }, 'dialer failed');
      throw new VoxlineError('VL_ERR_DIAL_FAILED', carrier, { cause: err });
    }
    attempt.carrierCallId = placed.carrierCallId;
    this.#o.log.info(
      { dialId: request.id, carrier, carrierCallId: placed.carrierCallId },
      'outbound call placed',
    );
    return view(attempt);
  }

  /** Abandons an attempt that has not been answered; its outcome (canceled) comes from the dialer. */
  async cancel(dialId: string): Promise<DialAttemptView> {
    const attempt = this.#attempts.get(dialId);
    if (!attempt) throw new VoxlineError('VL_ERR_DIAL_NOT_FOUND', dialId);
    if (attempt.status === 'answered' || attempt.status === 'ended') {
      throw new VoxlineError('VL_ERR_CALL_ENDED', `${dialId} is ${attempt.outcome}: nothing to cancel`);
    }
    await this.#dialers.get(attempt.carrier)?.cancel(dialId);
    return view(attempt);
  }

  /** Ends every attempt in progress (shutdown): each dialer reports them ended. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#dialers.values()].map((d) => d.close()));
    for (const attempt of this.#attempts.values()) this.#o.clock.clearTimeout(attempt.watchdog);
  }

  #bucket(carrier: DialCarrier): TokenBucket {
    let bucket = this.#buckets.get(carrier);
    if (!bucket) {
      const { callsPerSecond, clock } = this.#o;
      bucket = new TokenBucket(callsPerSecond, Math.max(1, Math.ceil(callsPerSecond)), () => clock.now());
      this.#buckets.set(carrier, bucket);
    }
    return bucket;
  }

  /** A dialer's report. Anything after the outcome is ignored (the contract says none comes). */
  #update(attempt: Attempt, update: DialUpdate): void {
    if (attempt.status === 'answered' || attempt.status === 'ended') return;
    const now = this.#o.clock.wallNow();
    switch (update.kind) {
      case 'ringing':
        attempt.status = 'ringing';
        return;
      case 'answered':
        attempt.status = 'answered';
        attempt.answeredAt = now;
        attempt.callSid = update.callSid;
        attempt.answeredBy = update.answeredBy;
        this.#settle(attempt, update.answeredBy === 'machine' ? 'machine' : 'answered');
        return;
      case 'ended':
        attempt.status = 'ended';
        attempt.endedAt = now;
        attempt.detail = update.detail;
        attempt.carrierStatus = update.status;
        this.#settle(attempt, update.outcome);
        return;
    }
  }

  #overdue(attempt: Attempt, dialer: Dialer): void {
    if (attempt.status === 'answered' || attempt.status === 'ended') return;
    const { id } = attempt.request;
    this.#o.log.warn({ dialId: id, carrier: attempt.carrier }, 'no outcome from the carrier in time');
    void dialer.cancel(id).catch((err: unknown) => this.#o.log.warn({ err, dialId: id }, 'cancel failed'));
    this.#update(attempt, {
      kind: 'ended',
      outcome: 'failed',
      detail: 'no outcome from the carrier in time',
    });
  }

  #settle(attempt: Attempt, outcome: DialOutcome): void {
    attempt.outcome = outcome;
    this.#release(attempt);
    const { request, carrier } = attempt;
    const log = this.#o.log.child({ dialId: request.id, carrier });
    log.info({ outcome, detail: attempt.detail, callSid: attempt.callSid }, 'outbound attempt settled');
    this.#o.publish(
      { callSid: request.id, log },
      {
        dialId: request.id,
        carrier,
        to: request.to,
        from: request.from,
        outcome,
        ...(attempt.detail === undefined ? {} : { detail: attempt.detail }),
        ...(attempt.carrierStatus === undefined ? {} : { status: attempt.carrierStatus }),
        ...(attempt.callSid === undefined ? {} : { callSid: attempt.callSid }),
        ...(attempt.answeredBy === undefined ? {} : { answeredBy: attempt.answeredBy }),
      },
    );
    this.#finished.push(request.id);
    const kept = this.#o.finishedKept ?? FINISHED_KEPT;
    while (this.#finished.length > kept) this.#attempts.delete(this.#finished.shift() as string);
  }

  /** Gives the attempt's slot back (once). */
  #release(attempt: Attempt): void {
    if (attempt.watchdog === undefined) return;
    this.#o.clock.clearTimeout(attempt.watchdog);
    attempt.watchdog = undefined;
    this.#inFlight.set(attempt.carrier, Math.max(0, this.inFlight(attempt.carrier) - 1));
  }
}

function view(a: Attempt): DialAttemptView {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: a.request.id,
    carrier: a.carrier,
    to: a.request.to,
    from: a.request.from,
    mode: a.request.mode,
    status: a.status,
    outcome: a.outcome ?? null,
    detail: a.detail ?? null,
    carrierStatus: a.carrierStatus ?? null,
    carrierCallId: a.carrierCallId ?? null,
    callSid: a.callSid ?? null,
    answeredBy: a.answeredBy ?? null,
    createdAt: new Date(a.createdAt).toISOString(),
    answeredAt: iso(a.answeredAt),
    endedAt: iso(a.endedAt),
  };
}
