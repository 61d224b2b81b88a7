import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { backoffDelay } from '../asr/backoff.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { Delivery, NextClaim, OutboxStore } from './outbox-store.js';
import { signatureHeader } from './signing.js';
import type { WebhookConfig, WebhookEndpoint } from './webhook-config.js';
import { type SendResult, WebhookSender } from './webhook-sender.js';

/** What a delivery attempt ended in, and so what happens next. */
type Outcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; error: string; retryAfterMs?: number }
  | { kind: 'dead'; error: string };

/** With a shared store, how often an idle worker looks for work (another instance's, once its leases ran out). */
export const SHARED_POLL_MS = 5_000;

/** A call's deliveries one slot takes in a row before it returns to the general claim. */
const FOLLOW_ON = 32;

export interface DispatcherOptions {
  /** This process's name on the leases it takes (random by default). */
  readonly owner?: string;
  /** Shared stores: the longest an idle worker waits before looking again. */
  readonly pollMs?: number;
}

export interface DispatcherObserver {
  delivered(endpoint: string, latencyMs: number): void;
  attemptFailed(endpoint: string): void;
  deadLettered(endpoint: string): void;
}

/**
 * Delivers the outbox to the endpoints: each endpoint has its own worker, so a slow or dead one
 * never holds up another (nor the audio path: nothing here is awaited there). Per call, an
 * endpoint gets events strictly in seq order: the next waits until the one before is delivered
 * or dead-lettered. Different calls go in parallel, up to `concurrency` requests per endpoint.
 * Work is claimed with a lease, so dispatchers of several instances on one store never attempt
 * the same delivery at once, and the work of one that died is taken over when its leases expire.
 */
export class Dispatcher {
  readonly #workers: EndpointWorker[];

  /** `clock`: what retries wait on and attempts are stamped with (wallNow); the system clock by default. */
  constructor(
    outbox: OutboxStore,
    config: WebhookConfig,
    log: FastifyBaseLogger,
    observer: DispatcherObserver,
    clock: Clock = systemClock,
    options: DispatcherOptions = {},
  ) {
    const owner = options.owner ?? `voxline-${randomBytes(6).toString('hex')}`;
    const pollMs = outbox.shared ? (options.pollMs ?? SHARED_POLL_MS) : undefined;
    this.#workers = config.endpoints.map(
      (ep) => new EndpointWorker(ep, outbox, config, log, observer, clock, owner, pollMs),
    );
  }

  /** Resumes whatever is pending (after a restart too). */
  start(): void {
    for (const worker of this.#workers) worker.kick();
  }

  /** New deliveries were committed: look now rather than at the next timer. */
  notify(endpoints: readonly string[]): void {
    for (const worker of this.#workers) if (endpoints.includes(worker.id)) worker.kick();
  }

  /** Stops starting attempts and waits (bounded) for those in flight to finish. */
  async stop(timeoutMs: number): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.stop(timeoutMs)));
  }
}

class EndpointWorker {
  readonly id: string;
  readonly #endpoint: WebhookEndpoint;
  readonly #sender: WebhookSender;
  readonly #outbox: OutboxStore;
  readonly #config: WebhookConfig;
  readonly #owner: string;
  readonly #pollMs: number | undefined;
  readonly #log: FastifyBaseLogger;
  readonly #observer: DispatcherObserver;
  /** Calls with a request in flight: their next event must wait for it. */
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #kicking = false;
  /** A kick came while one was running: look again when it is done. */
  #again = false;

  constructor(
    endpoint: WebhookEndpoint,
    outbox: OutboxStore,
    config: WebhookConfig,
    log: FastifyBaseLogger,
    observer: DispatcherObserver,
    clock: Clock,
    owner: string,
    pollMs: number | undefined,
  ) {
    this.#clock = clock;
    this.#owner = owner;
    this.#pollMs = pollMs;
    this.id = endpoint.id;
    this.#endpoint = endpoint;
    this.#sender = new WebhookSender(endpoint.url, config.concurrency, clock, config.timeoutMs);
    this.#outbox = outbox;
    this.#config = config;
    this.#log = log.child({ webhook: endpoint.id });
    this.#observer = observer;
  }

  kick(): void {
    if (this.#stopped) return;
    if (this.#kicking) {
      this.#again = true;
      return;
    }
    this.#kicking = true;
    this.#fill()
      .catch((err: unknown) => this.#log.error({ err }, 'webhook dispatcher failed to read the outbox'))
      .finally(() => {
        this.#kicking = false;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  async #fill(): Promise<void> {
    const now = this.#clock.wallNow();
    const free = this.#config.concurrency - this.#inFlight.size;
    let claimed = 0;
    if (free > 0) {
      const lease = { owner: this.#owner, until: now + this.#config.leaseMs };
      const deliveries = await this.#outbox.claimDue(this.id, now, free, lease);
      claimed = deliveries.length;
      for (const delivery of deliveries) {
        // Stopped meanwhile, or the call's previous attempt is still winding up: give it back.
        if (this.#stopped || this.#inFlight.has(delivery.callSid)) {
          await this.#outbox.release(delivery.id, this.#owner);
          continue;
        }
        const attempt = this.#work(delivery)
          .catch((err: unknown) =>
            this.#log.error({ err, deliveryId: delivery.id }, 'webhook bookkeeping failed'),
          )
          .finally(() => {
            this.#inFlight.delete(delivery.callSid);
            this.kick();
          });
        this.#inFlight.set(delivery.callSid, attempt);
      }
    }
    // Every slot busy: the next attempt to finish looks again, no timer is needed (nor its query).
    if (claimed >= free) return;
    await this.#armTimer(now);
  }

  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    let timer: TimerHandle | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight.values()]),
      new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, timeoutMs);
      }),
    ]);
    this.#clock.clearTimeout(timer);
    this.#sender.close(); // what is still in flight fails, and is released for the next start
  }

  /** Wakes up for the earliest retry (or lease expiry) that is not due yet; shared stores poll too. */
  async #armTimer(now: number): Promise<void> {
    const next = await this.#outbox.nextDueAt(this.id, now, this.#owner);
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    let wait = next === undefined ? undefined : Math.max(10, next - now);
    if (this.#pollMs !== undefined) wait = Math.min(wait ?? this.#pollMs, this.#pollMs);
    if (wait === undefined) return;
    this.#timer = this.#clock.setTimeout(() => this.kick(), wait);
    this.#timer.unref();
  }

  /**
   * Attempts `first`, then, while each attempt finishes its delivery, the same call's next one (a
   * point lookup, not a pass over every call's queue; after a delivery, in the same round trip as
   * its bookkeeping), up to FOLLOW_ON in a row before the slot goes back to the general claim so
   * that other calls get their turn.
   */
  async #work(first: Delivery): Promise<void> {
    let delivery: Delivery | undefined = first;
    for (let n = 1; delivery; n++) delivery = await this.#attempt(delivery, n < FOLLOW_ON);
  }

  /**
   * One attempt and its bookkeeping. With `followOn`, once the delivery is finished (delivered or
   * dead-lettered), claims and returns the call's next one, if due and free.
   */
  async #attempt(delivery: Delivery, followOn: boolean): Promise<Delivery | undefined> {
    const started = this.#clock.wallNow();
    const outcome = await this.#send(delivery);
    if (this.#stopped && outcome.kind !== 'delivered') {
      // Shutting down: leave it pending, unchanged, for the next start (or another instance).
      await this.#outbox.release(delivery.id, this.#owner);
      return undefined;
    }
    const next = followOn && !this.#stopped ? this.#nextOf(delivery.callSid) : undefined;
    if (outcome.kind === 'delivered') {
      const deliveredAt = this.#clock.wallNow();
      const claimed = next
        ? await this.#outbox.markDeliveredThenClaimNext(delivery.id, deliveredAt, next)
        : await this.#outbox.markDelivered(delivery.id, deliveredAt);
      this.#observer.delivered(this.id, deliveredAt - delivery.createdAt);
      return claimed ?? undefined;
    }
    this.#observer.attemptFailed(this.id);
    const attempts = delivery.attempts + 1;
    const age = started - delivery.createdAt;
    if (outcome.kind === 'dead' || age >= this.#config.maxAgeMs) {
      const error =
        outcome.kind === 'dead' ? outcome.error : `${outcome.error}; gave up after ${attempts} attempts`;
      await this.#outbox.markFailed(delivery.id, error, this.#clock.wallNow());
      this.#observer.deadLettered(this.id);
      this.#log.error(
        { deliveryId: delivery.id, eventId: delivery.eventId, attempts, error },
        'webhook dead-lettered',
      );
      return next
        ? this.#outbox.claimNext(this.id, next.callSid, this.#clock.wallNow(), next.lease)
        : undefined;
    }
    const delay = backoffDelay(attempts - 1, this.#config.retryBaseMs, this.#config.retryMaxMs);
    const wait = Math.min(this.#config.retryMaxMs, Math.max(outcome.retryAfterMs ?? 0, delay));
    await this.#outbox.markRetry(delivery.id, this.#clock.wallNow() + wait, outcome.error);
    this.#log.warn(
      { deliveryId: delivery.id, attempts, retryInMs: wait, error: outcome.error },
      'webhook failed; will retry',
    );
    return undefined;
  }

  /** What a slot claims a call's next delivery with. */
  #nextOf(callSid: string): NextClaim {
    return {
      endpoint: this.id,
      callSid,
      lease: { owner: this.#owner, until: this.#clock.wallNow() + this.#config.leaseMs },
    };
  }

  async #send(delivery: Delivery): Promise<Outcome> {
    const timestamp = Math.floor(this.#clock.wallNow() / 1000);
    let answer: SendResult;
    try {
      answer = await this.#sender.post(
        {
          'content-type': 'application/json',
          'user-agent': 'voxline-webhooks/1',
          'webhook-id': delivery.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(
            this.#endpoint.secrets,
            delivery.eventId,
            timestamp,
            delivery.body,
          ),
        },
        delivery.body,
      );
    } catch (err) {
      return { kind: 'retry', error: (err as Error).message };
    }
    const { status } = answer;
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    // 410 Gone: the receiver says this endpoint will never take it (Standard Webhooks).
    if (status === 410) return { kind: 'dead', error: 'HTTP 410 Gone' };
    const retryAfter = Number(answer.retryAfter);
    return {
      kind: 'retry',
      error: `HTTP ${status}`,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    };
  }
}
