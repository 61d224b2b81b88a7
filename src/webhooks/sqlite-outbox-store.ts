import type { Keyring } from '../crypto/keyring.js';
import type { EventData, EventType, WebhookEvent } from './event-schemas.js';
import { Outbox, type OutboxSync } from './outbox.js';
import { OutboxAppends } from './outbox-appends.js';
import type { Delivery, DeliveryStatus, Lease, NextClaim, OutboxStore, PruneResult } from './outbox-store.js';

/**
 * The embedded outbox: one SQLite file (DATA_DIR/voxline.db) for one process. Appends made in the
 * same event-loop turn share one transaction and one fsync (group commit), so a burst of events
 * from many calls costs one disk flush, not one each; bookkeeping is synchronous SQLite. With a
 * keyring (ENCRYPTION_KEY), bodies are sealed at rest.
 */
export class SqliteOutboxStore implements OutboxStore {
  readonly shared = false;
  readonly #outbox: Outbox;
  readonly #appends: OutboxAppends;

  constructor(path: string, sync: OutboxSync = 'full', keyring?: Keyring) {
    this.#outbox = new Outbox(path, sync, keyring);
    this.#appends = new OutboxAppends((batch) => this.#outbox.appendMany(batch));
  }

  append<T extends EventType>(
    callSid: string,
    type: T,
    data: EventData<T>,
    endpoints: readonly string[],
    now: number,
  ): Promise<WebhookEvent<T>> {
    return this.#appends.append(callSid, type, data, endpoints, now);
  }

  async claimDue(endpoint: string, now: number, limit: number, lease: Lease): Promise<Delivery[]> {
    return this.#outbox.claimDue(endpoint, now, limit, lease);
  }

  async claimNext(
    endpoint: string,
    callSid: string,
    now: number,
    lease: Lease,
  ): Promise<Delivery | undefined> {
    return this.#outbox.claimNext(endpoint, callSid, now, lease);
  }

  async nextDueAt(endpoint: string, now: number, owner: string): Promise<number | undefined> {
    return this.#outbox.nextDueAt(endpoint, now, owner);
  }

  async markDelivered(id: number, now: number): Promise<void> {
    this.#outbox.markDelivered(id, now);
  }

  async markDeliveredThenClaimNext(id: number, now: number, next: NextClaim): Promise<Delivery | undefined> {
    return this.#outbox.markDeliveredThenClaimNext(id, now, next);
  }

  async markRetry(id: number, nextAttemptAt: number, error: string): Promise<void> {
    this.#outbox.markRetry(id, nextAttemptAt, error);
  }

  async markFailed(id: number, error: string, now: number): Promise<void> {
    this.#outbox.markFailed(id, error, now);
  }

  async release(id: number, owner: string): Promise<void> {
    this.#outbox.release(id, owner);
  }

  async list(status: DeliveryStatus, limit: number): Promise<Delivery[]> {
    return this.#outbox.list(status, limit);
  }

  async get(id: number): Promise<Delivery | undefined> {
    return this.#outbox.get(id);
  }

  async requeue(id: number, now: number): Promise<boolean> {
    return this.#outbox.requeue(id, now);
  }

  async counts(): Promise<{ endpoint: string; status: DeliveryStatus; n: number }[]> {
    return this.#outbox.counts();
  }

  prune(cutoff: number, options?: { batchSize?: number; signal?: AbortSignal }): Promise<PruneResult> {
    return this.#outbox.prune(cutoff, options);
  }

  async eraseCall(callSid: string): Promise<PruneResult> {
    await this.#appends.settled();
    return this.#outbox.eraseCall(callSid);
  }

  /** Commits what was appended before closing: an event resolved as stored is stored. */
  async close(): Promise<void> {
    if (await this.#appends.close()) this.#outbox.close();
  }
}
