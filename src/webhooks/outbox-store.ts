import type { CallKeys } from '../crypto/call-keys.js';
import { isSealed } from '../crypto/sealed-text.js';
import { isVoxlineError } from '../errors.js';
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
  /**
   * The event as sent (and signed). With ENCRYPTION_KEY it is sealed at rest and opened here: at
   * once in a claim, when first read in a list or get (the admin list shows no bodies, so one
   * that does not open fails only a read of it, with its VL_ERR_ code).
   */
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
 * - a delivery keeps its event's id on every attempt, on every instance;
 * - with a keyring (ENCRYPTION_KEY), bodies are sealed at rest under a data key per call, in the
 *   store's outbox_keys; a claimed delivery whose body does not open (VL_ERR_ENCRYPTION_KEY: its
 *   master key is not configured; VL_ERR_DECRYPTION: changed, moved, or its call's key is gone)
 *   is dead-lettered with that error, and the claim goes on to the call's next head: it can
 *   never be sent, and retrying it would loop. Requeued (POST …/retry) once the key is back.
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

/** Where an event's sealed body belongs (the AAD's table; its row is the event id). */
export const SEALED_BODY = 'events';

/** A claimed delivery whose body does not open, and why (its dead letter's last_error). */
export interface Unreadable {
  readonly id: number;
  readonly error: string;
}

/**
 * Claimed deliveries with their bodies opened (`keyRow`: the call's wrapped data key, asked for
 * only where it is not cached); those that do not open, apart, for the store to dead-letter.
 */
export function openClaimed(
  rows: readonly Delivery[],
  keys: CallKeys,
  keyRow: (callSid: string) => Uint8Array | undefined,
): { open: Delivery[]; unreadable: Unreadable[] } {
  const open: Delivery[] = [];
  const unreadable: Unreadable[] = [];
  for (const d of rows) {
    if (!isSealed(d.body)) {
      open.push(d);
      continue;
    }
    try {
      const wrapped = keys.needsKeyRow(d.callSid, d.body) ? keyRow(d.callSid) : undefined;
      open.push({ ...d, body: keys.open(d.body, SEALED_BODY, d.callSid, d.eventId, wrapped) });
    } catch (err) {
      if (!isVoxlineError(err, 'VL_ERR_DECRYPTION') && !isVoxlineError(err, 'VL_ERR_ENCRYPTION_KEY'))
        throw err;
      unreadable.push({ id: d.id, error: `${err.code}: ${err.message}` });
    }
  }
  return { open, unreadable };
}

/** A listed delivery whose sealed body is opened when it is first read (see `Delivery.body`). */
export function openWhenRead(
  d: Delivery,
  keys: CallKeys,
  keyRow: (callSid: string) => Uint8Array | undefined,
): Delivery {
  if (!isSealed(d.body)) return d;
  const sealed = d.body;
  let body: string | undefined;
  return Object.defineProperty({ ...d }, 'body', {
    enumerable: true,
    get: () => {
      body ??= keys.open(
        sealed,
        SEALED_BODY,
        d.callSid,
        d.eventId,
        keys.needsKeyRow(d.callSid, sealed) ? keyRow(d.callSid) : undefined,
      );
      return body;
    },
  });
}
