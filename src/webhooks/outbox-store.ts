import type { EventData, EventType, WebhookEvent } from './event-schemas.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  readonly id: number;
  readonly eventId: string;
  readonly endpoint: string;
  readonly callSid: string;
  readonly seq: number;
  readonly type: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly createdAt: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
  readonly deliveredAt: number | null;
  readonly body: string;
}

/** Rows one prune deleted. */
export interface PruneResult {
  events: number;
  deliveries: number;
  sequences: number;
}

/** Who holds a claimed delivery, and until when (ms since the epoch). */
export interface Lease {
  readonly owner: string;
  readonly until: number;
}

/** The call whose next delivery a slot takes after finishing one, and the lease to take it with. */
export interface NextClaim {
  readonly endpoint: string;
  readonly callSid: string;
  readonly lease: Lease;
}

/** One event to append: the call, its type and data, the endpoints subscribed to it, the time. */
export interface AppendRequest {
  readonly callSid: string;
  readonly type: string;
  readonly data: unknown;
  readonly endpoints: readonly string[];
  readonly now: number;
}

/**
 * The durable outbox, whatever holds it: SQLite in one process (the default) or PostgreSQL shared
 * by every instance. Its contract (test/webhooks/outbox-store-contract.ts, run on both):
 * - `append` resolves once the event and one delivery per endpoint are committed; appends of one
 *   call get consecutive `seq` in the order they were made;
 * - `claimDue` hands out only the head of each call's queue for an endpoint (its lowest pending
 *   seq), when due and not leased to anyone; a claimed delivery stays leased until marked,
 *   released, or the lease runs out (then anyone may claim it: a dead instance's work is taken over);
 * - a delivery keeps its event's id on every attempt, on every instance.
 */
export interface OutboxStore {
  /** True when other processes share the store (they may add or lease work behind our back). */
  readonly shared: boolean;
  append<T extends EventType>(
    callSid: string,
    type: T,
    data: EventData<T>,
    endpoints: readonly string[],
    now: number,
  ): Promise<WebhookEvent<T>>;
  claimDue(endpoint: string, now: number, limit: number, lease: Lease): Promise<Delivery[]>;
  /** One call's head for `endpoint`, claimed as `claimDue` would, if it is due and nobody holds it. */
  claimNext(endpoint: string, callSid: string, now: number, lease: Lease): Promise<Delivery | undefined>;
  /**
   * The first moment after `now` at which a pending delivery of `endpoint` may become claimable
   * for `owner`: a retry falling due, or another holder's lease running out; undefined if none.
   * Deliveries due already are left out (a claim just took what it could of them; the rest wait
   * behind a head in flight, whose end looks again), and so are `owner`'s own leases.
   */
  nextDueAt(endpoint: string, now: number, owner: string): Promise<number | undefined>;
  markDelivered(id: number, now: number): Promise<void>;
  /**
   * `markDelivered`, then `claimNext` of the same call, in one transaction and one round trip:
   * how a dispatcher slot walks down a call's queue.
   */
  markDeliveredThenClaimNext(id: number, now: number, next: NextClaim): Promise<Delivery | undefined>;
  markRetry(id: number, nextAttemptAt: number, error: string): Promise<void>;
  markFailed(id: number, error: string, now: number): Promise<void>;
  /** Gives a claimed delivery back unchanged (shutting down mid-attempt). */
  release(id: number, owner: string): Promise<void>;
  list(status: DeliveryStatus, limit: number): Promise<Delivery[]>;
  get(id: number): Promise<Delivery | undefined>;
  /** A dead-lettered delivery goes back in the queue with a fresh age; false if it was not failed. */
  requeue(id: number, now: number): Promise<boolean>;
  counts(): Promise<{ endpoint: string; status: DeliveryStatus; n: number }[]>;
  /** Retention: finished events created and finished before `cutoff` go, in short batches. */
  prune(cutoff: number, options?: { batchSize?: number; signal?: AbortSignal }): Promise<PruneResult>;
  /**
   * Erasure: every event of the call, pending or not, with its deliveries and the call's sequence
   * row, once the appends already made are committed (so none of them lands after).
   */
  eraseCall(callSid: string): Promise<PruneResult>;
  close(): Promise<void>;
}
