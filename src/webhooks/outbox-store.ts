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
  /** When the next pending delivery of `endpoint` is due or its lease runs out; undefined if none. */
  nextDueAt(endpoint: string): Promise<number | undefined>;
  markDelivered(id: number, now: number): Promise<void>;
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
  close(): Promise<void>;
}
