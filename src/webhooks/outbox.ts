import Database from 'better-sqlite3';
import { CallKeys } from '../crypto/call-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import type { EventData, EventType, WebhookEvent } from './event-schemas.js';
import {
  type AppendRequest,
  type Delivery,
  type DeliveryStatus,
  type Lease,
  type NextClaim,
  openClaimed,
  openWhenRead,
  type PruneResult,
  type Unreadable,
} from './outbox-store.js';
import { type Append, type AppendMany, appender } from './sqlite-outbox-append.js';
import { FINISHED_AT, migrate, SCHEMA } from './sqlite-outbox-schema.js';

export type { Delivery, DeliveryStatus, PruneResult } from './outbox-store.js';

/** Where a prune pass has got to: the last event it looked at, in (created_at, rowid) order. */
export interface PruneCursor {
  readonly createdAt: number;
  readonly rowid: number;
}

export interface PruneBatch extends PruneResult {
  /** Where the next batch starts; undefined when this one reached the end. */
  readonly next: PruneCursor | undefined;
}

/** Events looked at per prune batch: each batch is one short transaction. */
const PRUNE_BATCH = 500;

const COLUMNS = `d.id, d.event_id AS eventId, d.endpoint, d.call_sid AS callSid, d.seq, e.type, d.status,
  d.attempts, d.created_at AS createdAt, d.next_attempt_at AS nextAttemptAt, d.last_error AS lastError,
  d.delivered_at AS deliveredAt, e.body`;

/** `full` fsyncs every commit (survives a power cut); `normal` survives the process dying, not the OS. */
export type OutboxSync = 'full' | 'normal';

/**
 * The durable outbox (SQLite, WAL): an event and one delivery per subscribed endpoint are
 * committed together before `append` returns, so an emitted event survives a crash or restart.
 * With a keyring, bodies are sealed under a data key per call (outbox_keys), as OutboxStore says.
 */
export class Outbox {
  readonly #db: Database.Database;
  /**
   * A second connection, synchronous=NORMAL, for delivery bookkeeping: losing the last "delivered"
   * marks to a power cut only means a re-delivery (at least once), so they need no fsync each.
   */
  readonly #bookkeeping: Database.Database;
  readonly #append: { one: Append; many: AppendMany };
  readonly #appendEphemeral: { one: Append; many: AppendMany };
  readonly #statements;
  readonly #pruneBatch: (cutoff: number, limit: number, after: PruneCursor) => PruneBatch;
  readonly #claim: (endpoint: string, now: number, limit: number, lease: Lease) => Delivery[];
  readonly #claimNext: (endpoint: string, callSid: string, now: number, lease: Lease) => Delivery | undefined;
  readonly #deliveredThenNext: (id: number, now: number, next: NextClaim) => Delivery | undefined;
  readonly #erase: (callSid: string) => PruneResult;
  readonly #keys: CallKeys;
  readonly #keyRow: Database.Statement;

  constructor(path: string, sync: OutboxSync = 'full', keyring?: Keyring) {
    this.#keys = new CallKeys(keyring, 'outbox');
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    migrate(this.#db);
    this.#bookkeeping = new Database(path);
    this.#bookkeeping.pragma('synchronous = NORMAL');
    this.#bookkeeping.pragma('busy_timeout = 5000');
    // Erasure and retention delete on this connection: a key row deleted is zeroed in its page.
    if (keyring) this.#bookkeeping.pragma('secure_delete = FAST');
    const db = this.#db;
    const books = this.#bookkeeping;
    this.#statements = {
      // The head of each call's queue for an endpoint: its earliest pending delivery, if due.
      due: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.endpoint = ? AND d.status = 'pending' AND d.next_attempt_at <= ?
           AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.endpoint = d.endpoint AND p.status = 'pending'
                           AND p.call_sid = d.call_sid AND p.seq < d.seq)
         ORDER BY d.next_attempt_at, d.id LIMIT ?`,
      ),
      // Heads as `due` gives them, less those leased to anyone until after `now`.
      claimable: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.endpoint = @endpoint AND d.status = 'pending' AND d.next_attempt_at <= @now
           AND (d.lease_until IS NULL OR d.lease_until <= @now)
           AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.endpoint = d.endpoint AND p.status = 'pending'
                           AND p.call_sid = d.call_sid AND p.seq < d.seq)
         ORDER BY d.next_attempt_at, d.id LIMIT @limit`,
      ),
      lease: books.prepare('UPDATE deliveries SET lease_owner = ?, lease_until = ? WHERE id = ?'),
      callHead: books.prepare(
        `SELECT ${COLUMNS}, d.lease_until AS leaseUntil FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.endpoint = ? AND d.call_sid = ? AND d.status = 'pending' ORDER BY d.seq LIMIT 1`,
      ),
      release: books.prepare(
        'UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
      ),
      // The next retry after `now`, or another holder's lease running out: two index probes.
      nextDue: books.prepare(
        `SELECT MIN(at) AS at FROM (
           SELECT MIN(next_attempt_at) AS at FROM deliveries
           WHERE endpoint = @endpoint AND status = 'pending' AND next_attempt_at > @now
           UNION ALL
           SELECT MIN(lease_until) FROM deliveries
           WHERE endpoint = @endpoint AND status = 'pending' AND lease_until > @now AND lease_owner <> @owner)`,
      ),
      delivered: books.prepare(
        `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = @now, finished_at = @now,
           last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE id = @id`,
      ),
      retryLater: books.prepare(
        `UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, lease_owner = NULL,
           lease_until = NULL WHERE id = ?`,
      ),
      dead: books.prepare(
        `UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?, finished_at = ?,
           lease_owner = NULL, lease_until = NULL WHERE id = ?`,
      ),
      list: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = ? ORDER BY d.id DESC LIMIT ?`,
      ),
      get: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`,
      ),
      requeue: books.prepare(
        `UPDATE deliveries SET status = 'pending', attempts = 0, created_at = ?, next_attempt_at = ?, last_error = NULL,
           finished_at = NULL
         WHERE id = ? AND status = 'failed'`,
      ),
      counts: books.prepare(
        'SELECT endpoint, status, COUNT(*) AS n FROM deliveries GROUP BY endpoint, status',
      ),
      // Events older than the cutoff, oldest first, each marked `done` when every delivery of it
      // was finished before the cutoff too. A pending delivery keeps its event, whatever its age.
      pruneScan: books.prepare(
        `SELECT e.rowid AS rowid, e.created_at AS createdAt, e.id, e.call_sid AS callSid,
           NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                       AND (d.status = 'pending' OR ${FINISHED_AT} >= @cutoff)) AS done
         FROM events e
         WHERE e.created_at < @cutoff AND (e.created_at, e.rowid) > (@createdAt, @rowid)
         ORDER BY e.created_at, e.rowid LIMIT @limit`,
      ),
      pruneDeliveries: books.prepare('DELETE FROM deliveries WHERE event_id = ?'),
      pruneEvent: books.prepare('DELETE FROM events WHERE id = ?'),
      // A call's numbering goes with its last event: every event it had is older than the
      // retention and finished, so the call ended long ago (a live call has recent events).
      pruneSequence: books.prepare(
        'DELETE FROM call_seq WHERE call_sid = @call AND NOT EXISTS (SELECT 1 FROM events WHERE call_sid = @call)',
      ),
      // Its data key with it: no event of the call is left to open.
      pruneKey: books.prepare(
        'DELETE FROM outbox_keys WHERE call_sid = @call AND NOT EXISTS (SELECT 1 FROM events WHERE call_sid = @call)',
      ),
    };
    this.#keyRow = books.prepare('SELECT wrapped FROM outbox_keys WHERE call_sid = ?');
    this.#claim = books.transaction((endpoint: string, now: number, limit: number, lease: Lease) => {
      const rows = this.#statements.claimable.all({ endpoint, now, limit }) as Delivery[];
      for (const row of rows) this.#statements.lease.run(lease.owner, lease.until, row.id);
      return rows;
    });
    this.#claimNext = books.transaction((endpoint: string, callSid: string, now: number, lease: Lease) => {
      const head = this.#statements.callHead.get(endpoint, callSid) as
        | (Delivery & { leaseUntil: number | null })
        | undefined;
      if (!head || head.nextAttemptAt > now || (head.leaseUntil !== null && head.leaseUntil > now))
        return undefined;
      this.#statements.lease.run(lease.owner, lease.until, head.id);
      const { leaseUntil: _, ...delivery } = head;
      return delivery as Delivery;
    });
    this.#deliveredThenNext = books.transaction((id: number, now: number, next: NextClaim) => {
      this.#statements.delivered.run({ now, id });
      return this.#claimNext(next.endpoint, next.callSid, now, next.lease);
    });
    const erase = {
      deliveries: books.prepare('DELETE FROM deliveries WHERE call_sid = ?'),
      events: books.prepare('DELETE FROM events WHERE call_sid = ?'),
      sequence: books.prepare('DELETE FROM call_seq WHERE call_sid = ?'),
      key: books.prepare('DELETE FROM outbox_keys WHERE call_sid = ?'),
    };
    this.#erase = books.transaction((callSid: string) => {
      const erased = {
        deliveries: erase.deliveries.run(callSid).changes,
        events: erase.events.run(callSid).changes,
        sequences: erase.sequence.run(callSid).changes,
      };
      erase.key.run(callSid);
      return erased;
    });
    this.#pruneBatch = books.transaction((cutoff: number, limit: number, after: PruneCursor) =>
      this.#prune(cutoff, limit, after),
    );
    this.#append = appender(db, this.#keys);
    this.#appendEphemeral = appender(books, this.#keys);
  }

  /** Assigns the call's next seq and commits the event with a delivery per endpoint. */
  append<T extends EventType>(
    callSid: string,
    type: T,
    data: EventData<T>,
    endpoints: readonly string[],
    now = Date.now(),
  ): WebhookEvent<T> {
    // Partials are superseded by their final: a power cut may lose the last few, never a final.
    const append = type === 'transcript.partial' ? this.#appendEphemeral : this.#append;
    return append.one(callSid, type, data, endpoints, now) as WebhookEvent<T>;
  }

  /**
   * Group commit: every request in one transaction (one fsync), in order; all or none. Partials
   * alone skip the fsync, as in `append`; a batch with anything else in it is fsynced.
   */
  appendMany(requests: readonly AppendRequest[]): WebhookEvent[] {
    const ephemeral = requests.every((r) => r.type === 'transcript.partial');
    return (ephemeral ? this.#appendEphemeral : this.#append).many(requests);
  }

  /**
   * The due heads of `endpoint`'s call queues that nobody holds, now leased to `lease.owner`. A
   * head whose body does not open is dead-lettered, and the claim takes the next in its place.
   */
  claimDue(endpoint: string, now: number, limit: number, lease: Lease): Delivery[] {
    const claimed: Delivery[] = [];
    for (let wanted = limit; wanted > 0; ) {
      const { open, unreadable } = this.#opened(this.#claim(endpoint, now, wanted, lease));
      claimed.push(...open);
      this.#deadLetter(unreadable, now);
      wanted = unreadable.length;
    }
    return claimed;
  }

  claimNext(endpoint: string, callSid: string, now: number, lease: Lease): Delivery | undefined {
    for (;;) {
      const head = this.#claimNext(endpoint, callSid, now, lease);
      if (!head) return undefined;
      const { open, unreadable } = this.#opened([head]);
      if (open[0]) return open[0];
      this.#deadLetter(unreadable, now);
    }
  }

  #opened(rows: readonly Delivery[]): { open: Delivery[]; unreadable: Unreadable[] } {
    return openClaimed(rows, this.#keys, (callSid) => this.#wrappedKey(callSid));
  }

  #wrappedKey(callSid: string): Buffer | undefined {
    return (this.#keyRow.get(callSid) as { wrapped: Buffer } | undefined)?.wrapped;
  }

  #deadLetter(unreadable: readonly Unreadable[], now: number): void {
    for (const { id, error } of unreadable) this.#statements.dead.run(error, now, id);
  }

  #whenRead(d: Delivery): Delivery {
    return openWhenRead(d, this.#keys, (callSid) => this.#wrappedKey(callSid));
  }

  release(id: number, owner: string): void {
    this.#statements.release.run(id, owner);
  }

  due(endpoint: string, now: number, limit: number): Delivery[] {
    return (this.#statements.due.all(endpoint, now, limit) as Delivery[]).map((d) => this.#whenRead(d));
  }

  nextDueAt(endpoint: string, now: number, owner: string): number | undefined {
    return (this.#statements.nextDue.get({ endpoint, now, owner }) as { at: number | null }).at ?? undefined;
  }

  markDelivered(id: number, now = Date.now()): void {
    this.#statements.delivered.run({ now, id });
  }

  markDeliveredThenClaimNext(id: number, now: number, next: NextClaim): Delivery | undefined {
    const head = this.#deliveredThenNext(id, now, next);
    if (!head) return undefined;
    const { open, unreadable } = this.#opened([head]);
    if (open[0]) return open[0];
    this.#deadLetter(unreadable, now);
    return this.claimNext(next.endpoint, next.callSid, now, next.lease);
  }

  markRetry(id: number, nextAttemptAt: number, error: string): void {
    this.#statements.retryLater.run(nextAttemptAt, error, id);
  }

  markFailed(id: number, error: string, now = Date.now()): void {
    this.#statements.dead.run(error, now, id);
  }

  list(status: DeliveryStatus, limit: number): Delivery[] {
    return (this.#statements.list.all(status, limit) as Delivery[]).map((d) => this.#whenRead(d));
  }

  get(id: number): Delivery | undefined {
    const d = this.#statements.get.get(id) as Delivery | undefined;
    return d && this.#whenRead(d);
  }

  /** A dead-lettered delivery goes back in the queue, with a fresh age. False if it was not failed. */
  requeue(id: number, now = Date.now()): boolean {
    return this.#statements.requeue.run(now, now, id).changes === 1;
  }

  counts(): { endpoint: string; status: DeliveryStatus; n: number }[] {
    return this.#statements.counts.all() as { endpoint: string; status: DeliveryStatus; n: number }[];
  }

  /**
   * One bounded step of retention, in one transaction: of the next `limit` events created before
   * `cutoff`, deletes those whose deliveries were all finished (delivered or dead-lettered) before
   * `cutoff`, with their deliveries, and the sequence rows of calls left with no event at all.
   */
  pruneBatch(cutoff: number, limit = PRUNE_BATCH, after?: PruneCursor): PruneBatch {
    return this.#pruneBatch(cutoff, limit, after ?? { createdAt: Number.MIN_SAFE_INTEGER, rowid: 0 });
  }

  /**
   * Retention: every finished event created and finished before `cutoff` goes, batch by batch,
   * yielding to the event loop between batches so appends and deliveries go on meanwhile. Stops
   * early (what is done stays done) when `signal` aborts or the outbox is closed.
   */
  async prune(
    cutoff: number,
    options: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<PruneResult> {
    const total: PruneResult = { events: 0, deliveries: 0, sequences: 0 };
    let after: PruneCursor | undefined;
    for (;;) {
      if (options.signal?.aborted || !this.#bookkeeping.open) return total;
      const batch = this.pruneBatch(cutoff, options.batchSize ?? PRUNE_BATCH, after);
      total.events += batch.events;
      total.deliveries += batch.deliveries;
      total.sequences += batch.sequences;
      if (!batch.next) return total;
      after = batch.next;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #prune(cutoff: number, limit: number, after: PruneCursor): PruneBatch {
    const { pruneScan, pruneDeliveries, pruneEvent, pruneSequence, pruneKey } = this.#statements;
    const rows = pruneScan.all({ cutoff, limit, createdAt: after.createdAt, rowid: after.rowid }) as {
      rowid: number;
      createdAt: number;
      id: string;
      callSid: string;
      done: number;
    }[];
    const result = { events: 0, deliveries: 0, sequences: 0 };
    const calls = new Set<string>();
    for (const row of rows) {
      if (!row.done) continue;
      result.deliveries += pruneDeliveries.run(row.id).changes;
      result.events += pruneEvent.run(row.id).changes;
      calls.add(row.callSid);
    }
    for (const callSid of calls) {
      result.sequences += pruneSequence.run({ call: callSid }).changes;
      if (pruneKey.run({ call: callSid }).changes > 0) this.#keys.forget(callSid);
    }
    const last = rows.at(-1);
    return {
      ...result,
      next: last && rows.length === limit ? { createdAt: last.createdAt, rowid: last.rowid } : undefined,
    };
  }

  /**
   * Erasure: the call's events, pending or not, their deliveries, its sequence row and its data
   * key row, in one transaction.
   */
  eraseCall(callSid: string): PruneResult {
    const erased = this.#erase(callSid);
    this.#keys.forget(callSid);
    return erased;
  }

  close(): void {
    if (this.#bookkeeping.open) this.#bookkeeping.close();
    if (this.#db.open) this.#db.close();
  }
}
