import type pg from 'pg';
import { CallKeys } from '../crypto/call-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import { migrate, type PoolSettings } from '../store/postgres.js';
import { eventEnvelope } from './event-envelope.js';
import type { EventData, EventType, WebhookEvent } from './event-schemas.js';
import { OutboxAppends } from './outbox-appends.js';
import {
  type AppendRequest,
  type Delivery,
  type DeliveryStatus,
  type Lease,
  type NextClaim,
  type OutboxStore,
  openClaimed,
  openWhenRead,
  type PruneResult,
  SEALED_BODY,
  type Unreadable,
} from './outbox-store.js';
import { OUTBOX_MIGRATIONS } from './postgres-outbox-schema.js';

const COLUMNS = `d.id, d.event_id AS "eventId", d.endpoint, d.call_sid AS "callSid", d.seq, e.type, d.status,
  d.attempts, d.created_at AS "createdAt", d.next_attempt_at AS "nextAttemptAt", d.last_error AS "lastError",
  d.delivered_at AS "deliveredAt", e.body`;

/** As in the SQLite outbox: when a delivery was finished (delivered or dead-lettered). */
const FINISHED_AT = 'COALESCE(d.finished_at, d.delivered_at, d.next_attempt_at)';

const PRUNE_BATCH = 500;

/**
 * The outbox's pool: sessions commit without waiting for the WAL flush, except appends, which set
 * it on for their own transaction. What that leaves unflushed is the dispatcher's bookkeeping
 * (claims, delivered, retry, release): a database crash can lose the last few ms of it, which
 * puts those deliveries back to pending and sends them again, with the same webhook-id, as at
 * least once allows. The WAL is lost only from its end, so what comes back is a suffix of each
 * call's queue and order holds. It saves a flush per delivery, twice (claim and mark).
 */
export const OUTBOX_POOL: PoolSettings = { synchronousCommit: 'off' };

/**
 * The end of a one-call claim, after a CTE `head` that picked the call's head: locked if it is
 * still pending, due at `now` and held by nobody (a second instance skips it rather than waits),
 * leased to `owner` until `until`, and returned with its event.
 */
function leaseHead(now: string, owner: string, until: string): string {
  return `locked AS (
            SELECT d.id FROM deliveries d JOIN head ON d.id = head.id
            WHERE d.status = 'pending' AND d.next_attempt_at <= ${now}
              AND (d.lease_until IS NULL OR d.lease_until <= ${now})
            FOR UPDATE OF d SKIP LOCKED)
          UPDATE deliveries d SET lease_owner = ${owner}, lease_until = ${until}
          FROM locked, events e WHERE d.id = locked.id AND e.id = d.event_id
          RETURNING ${COLUMNS}`;
}

/** Named statements: PostgreSQL plans each once per connection. */
const SQL = {
  seqs: `INSERT INTO call_seq (call_sid, last_seq) SELECT * FROM unnest($1::text[], $2::bigint[])
         ON CONFLICT (call_sid) DO UPDATE SET last_seq = call_seq.last_seq + EXCLUDED.last_seq
         RETURNING call_sid, last_seq`,
  // The batch's calls' data keys: those inserted here, and those already there. A call whose row
  // another instance committed while this waited for it is in neither (this statement's snapshot
  // is older): `keys` reads it.
  addKeys: `WITH added AS (
              INSERT INTO outbox_keys (call_sid, key_id, wrapped)
              SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
              ON CONFLICT DO NOTHING RETURNING call_sid, wrapped)
            SELECT call_sid, wrapped, true AS added FROM added
            UNION ALL SELECT call_sid, wrapped, false FROM outbox_keys WHERE call_sid = ANY($1::text[])`,
  keys: 'SELECT call_sid, wrapped FROM outbox_keys WHERE call_sid = ANY($1::text[])',
  events: `INSERT INTO events (id, call_sid, seq, type, body, created_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[])`,
  deliveries: `INSERT INTO deliveries (event_id, endpoint, call_sid, seq, status, created_at, next_attempt_at)
               SELECT e, p, c, s, 'pending', t, t
               FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS x(e, p, c, s, t)`,
  // The heads of the endpoint's call queues (one index pass: the lowest pending seq per call), those
  // due and held by nobody, locked so that a second instance running this at the same moment skips
  // them rather than waiting or doubling; the lock re-reads each row, so one delivered or leased
  // meanwhile drops out.
  claim: `WITH heads AS (
            SELECT DISTINCT ON (call_sid) id, next_attempt_at, lease_until FROM deliveries
            WHERE endpoint = $1 AND status = 'pending' ORDER BY call_sid, seq),
          due AS (
            SELECT id FROM heads WHERE next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
            ORDER BY next_attempt_at, id LIMIT $3),
          locked AS (
            SELECT d.id FROM deliveries d JOIN due ON d.id = due.id
            WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $2)
            FOR UPDATE OF d SKIP LOCKED)
          UPDATE deliveries d SET lease_owner = $4, lease_until = $5
          FROM locked, events e WHERE d.id = locked.id AND e.id = d.event_id
          RETURNING ${COLUMNS}`,
  // One call's head (a point lookup on the queue index), claimed on the same terms as above.
  claimNext: `WITH head AS (
                SELECT id FROM deliveries WHERE endpoint = $1 AND call_sid = $2 AND status = 'pending'
                ORDER BY seq LIMIT 1),
              ${leaseHead('$3', '$4', '$5')}`,
  // `delivered` and `claimNext` in one statement. Every part reads the statement's snapshot, in
  // which the row just marked is still pending: it is left out by id, not by seq, so a requeued
  // dead letter earlier in the call's queue is still its head.
  deliveredThenNext: `WITH done AS (
                        UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $2,
                          finished_at = $2, last_error = NULL, lease_owner = NULL, lease_until = NULL
                        WHERE id = $1),
                      head AS (
                        SELECT id FROM deliveries
                        WHERE endpoint = $3 AND call_sid = $4 AND status = 'pending' AND id <> $1
                        ORDER BY seq LIMIT 1),
                      ${leaseHead('$2', '$5', '$6')}`,
  release: 'UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2',
  // Two index probes (deliveries_due, deliveries_leased), however long the backlog.
  nextDue: `SELECT LEAST(
              (SELECT MIN(next_attempt_at) FROM deliveries
               WHERE endpoint = $1 AND status = 'pending' AND next_attempt_at > $2),
              (SELECT MIN(lease_until) FROM deliveries
               WHERE endpoint = $1 AND status = 'pending' AND lease_until > $2 AND lease_owner <> $3)) AS at`,
  delivered: `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $2, finished_at = $2,
                last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1`,
  retry: `UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, lease_owner = NULL,
            lease_until = NULL WHERE id = $1`,
  dead: `UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = $2, finished_at = $3,
           lease_owner = NULL, lease_until = NULL WHERE id = $1`,
  list: `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = $1
         ORDER BY d.id DESC LIMIT $2`,
  get: `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1`,
  requeue: `UPDATE deliveries SET status = 'pending', attempts = 0, created_at = $2, next_attempt_at = $2,
              last_error = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL
            WHERE id = $1 AND status = 'failed'`,
  counts: 'SELECT endpoint, status, COUNT(*)::int AS n FROM deliveries GROUP BY endpoint, status',
  pruneScan: `SELECT e.id, e.call_sid AS "callSid", e.created_at AS "createdAt",
                NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                            AND (d.status = 'pending' OR ${FINISHED_AT} >= $1)) AS done
              FROM events e WHERE e.created_at < $1 AND (e.created_at, e.id) > ($2, $3)
              ORDER BY e.created_at, e.id LIMIT $4`,
  pruneDeliveries: 'DELETE FROM deliveries WHERE event_id = ANY($1::text[])',
  pruneEvents: 'DELETE FROM events WHERE id = ANY($1::text[])',
  // Erasure, one statement: the foreign key (NO ACTION) is checked at its end, when both are gone.
  erase: `WITH d AS (DELETE FROM deliveries WHERE call_sid = $1 RETURNING 1),
          e AS (DELETE FROM events WHERE call_sid = $1 RETURNING 1),
          s AS (DELETE FROM call_seq WHERE call_sid = $1 RETURNING 1),
          k AS (DELETE FROM outbox_keys WHERE call_sid = $1)
          SELECT (SELECT count(*) FROM d)::int AS deliveries, (SELECT count(*) FROM e)::int AS events,
            (SELECT count(*) FROM s)::int AS sequences`,
  // A call's numbering and its data key go with its last event.
  pruneSequences: `WITH gone AS (DELETE FROM outbox_keys k WHERE k.call_sid = ANY($1::text[])
                     AND NOT EXISTS (SELECT 1 FROM events WHERE call_sid = k.call_sid))
                   DELETE FROM call_seq c WHERE c.call_sid = ANY($1::text[])
                   AND NOT EXISTS (SELECT 1 FROM events WHERE call_sid = c.call_sid)`,
} as const;

type Statement = keyof typeof SQL;

/**
 * The outbox in PostgreSQL, shared by every voxline instance on the database. Appends are group
 * committed: whatever was appended while the previous commit ran goes in the next, as three
 * statements however many events (sequence numbers, events, deliveries). Partials alone commit
 * with synchronous_commit off, as the SQLite outbox skips their fsync. Deliveries are claimed
 * with `FOR UPDATE SKIP LOCKED` and a lease, so instances share the work and take over a dead
 * one's when its leases run out. With a keyring, bodies are sealed under a data key per call in
 * outbox_keys, which every instance with the same ENCRYPTION_KEY unwraps.
 */
export class PostgresOutboxStore implements OutboxStore {
  readonly shared = true;
  readonly #pool: pg.Pool;
  readonly #appends: OutboxAppends;
  readonly #keys: CallKeys;
  #closed = false;

  private constructor(pool: pg.Pool, keyring: Keyring | undefined) {
    this.#pool = pool;
    this.#keys = new CallKeys(keyring, 'outbox');
    this.#appends = new OutboxAppends((batch) => this.#appendBatch(batch));
  }

  /** Runs the outbox's migrations (safe with several instances starting at once), then opens. */
  static async open(pool: pg.Pool, keyring?: Keyring): Promise<PostgresOutboxStore> {
    await migrate(pool, OUTBOX_MIGRATIONS);
    return new PostgresOutboxStore(pool, keyring);
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

  async #appendBatch(batch: readonly AppendRequest[]): Promise<WebhookEvent[]> {
    const perCall = new Map<string, number>();
    for (const r of batch) perCall.set(r.callSid, (perCall.get(r.callSid) ?? 0) + 1);
    // Sorted: two transactions that touch the same calls lock their rows in the same order.
    const calls = [...perCall.keys()].sort();
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const sealing = this.#keys.sealing ? await this.#sealingKeys(client, calls) : undefined;
      // Durable whatever the session's default (OUTBOX_POOL turns it off for the bookkeeping). A
      // new key row is durable too: lost in a database crash while cached here, it would leave
      // the call's later events sealed under a key that no row holds.
      const partialsOnly = batch.every((r) => r.type === 'transcript.partial') && !sealing?.added;
      await client.query(`SET LOCAL synchronous_commit = ${partialsOnly ? 'off' : 'on'}`);
      const { rows } = await client.query<{ call_sid: string; last_seq: number }>({
        name: 'outbox.seqs',
        text: SQL.seqs,
        values: [calls, calls.map((c) => perCall.get(c))],
      });
      // A call's events in this batch take the numbers just below its new last_seq, in order.
      const next = new Map(rows.map((r) => [r.call_sid, r.last_seq - (perCall.get(r.call_sid) ?? 0) + 1]));
      const events = batch.map((r) => {
        const seq = next.get(r.callSid) as number;
        next.set(r.callSid, seq + 1);
        return eventEnvelope(r.callSid, r.type, r.data, seq, r.now);
      });
      await client.query({
        name: 'outbox.events',
        text: SQL.events,
        values: [
          events.map((e) => e.id),
          events.map((e) => e.callSid),
          events.map((e) => e.seq),
          events.map((e) => e.type),
          events.map((e) => {
            const json = JSON.stringify(e);
            const key = sealing?.keys.get(e.callSid);
            return key ? this.#keys.seal(key, SEALED_BODY, e.callSid, e.id, json) : json;
          }),
          batch.map((r) => r.now),
        ],
      });
      const d = {
        event: [] as string[],
        endpoint: [] as string[],
        call: [] as string[],
        seq: [] as number[],
        at: [] as number[],
      };
      batch.forEach((r, i) => {
        for (const endpoint of r.endpoints) {
          d.event.push(events[i].id);
          d.endpoint.push(endpoint);
          d.call.push(r.callSid);
          d.seq.push(events[i].seq);
          d.at.push(r.now);
        }
      });
      if (d.event.length > 0) {
        await client.query({
          name: 'outbox.deliveries',
          text: SQL.deliveries,
          values: [d.event, d.endpoint, d.call, d.seq, d.at],
        });
      }
      await client.query('COMMIT');
      for (const [callSid, key] of sealing?.learnt ?? []) this.#keys.remember(callSid, key);
      return events;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * The data keys of the batch's calls: cached, or from their key rows, made in the batch's
   * transaction for calls that have none (a key row commits with the first events it seals, or
   * not at all). `learnt`: to cache once that commits; `added`: a key row was inserted.
   */
  async #sealingKeys(
    client: pg.PoolClient,
    calls: readonly string[],
  ): Promise<{ keys: Map<string, Buffer>; learnt: Map<string, Buffer>; added: boolean }> {
    const keys = new Map<string, Buffer>();
    const learnt = new Map<string, Buffer>();
    const missing: string[] = [];
    for (const callSid of calls) {
      const key = this.#keys.cached(callSid);
      if (key) keys.set(callSid, key);
      else missing.push(callSid);
    }
    if (missing.length === 0) return { keys, learnt, added: false };
    const fresh = missing.map((callSid) => this.#keys.fresh(callSid));
    const { rows } = await client.query<{ call_sid: string; wrapped: Buffer; added: boolean }>({
      name: 'outbox.addKeys',
      text: SQL.addKeys,
      values: [missing, fresh.map((f) => f.keyId), fresh.map((f) => f.wrapped)],
    });
    const stored = new Map(rows.map((r) => [r.call_sid, r.wrapped]));
    const late = missing.filter((callSid) => !stored.has(callSid));
    if (late.length > 0) {
      const read = await client.query<{ call_sid: string; wrapped: Buffer }>({
        name: 'outbox.keys',
        text: SQL.keys,
        values: [late],
      });
      for (const r of read.rows) stored.set(r.call_sid, r.wrapped);
    }
    missing.forEach((callSid, i) => {
      const wrapped = stored.get(callSid);
      if (!wrapped) throw new Error(`the data key row of ${callSid} was deleted as it was made`);
      const key = this.#keys.unwrap(callSid, wrapped, fresh[i]);
      keys.set(callSid, key);
      learnt.set(callSid, key);
    });
    return { keys, learnt, added: rows.some((r) => r.added) };
  }

  /** The key rows of the calls of `rows` whose bodies are sealed and keys not cached (one query). */
  async #keyRows(rows: readonly Delivery[]): Promise<Map<string, Buffer>> {
    const calls = new Set(
      rows.filter((d) => this.#keys.needsKeyRow(d.callSid, d.body)).map((d) => d.callSid),
    );
    if (calls.size === 0) return new Map();
    const read = await this.#query<{ call_sid: string; wrapped: Buffer }>('keys', [[...calls]]);
    return new Map(read.rows.map((r) => [r.call_sid, r.wrapped]));
  }

  async #opened(rows: readonly Delivery[]): Promise<{ open: Delivery[]; unreadable: Unreadable[] }> {
    const wrapped = await this.#keyRows(rows);
    return openClaimed(rows, this.#keys, (callSid) => wrapped.get(callSid));
  }

  async #whenRead(rows: readonly Delivery[]): Promise<Delivery[]> {
    const wrapped = await this.#keyRows(rows);
    return rows.map((d) => openWhenRead(d, this.#keys, (callSid) => wrapped.get(callSid)));
  }

  /** Claimed deliveries whose bodies do not open: dead-lettered, with the error (see OutboxStore). */
  async #deadLetter(unreadable: readonly Unreadable[], now: number): Promise<void> {
    for (const { id, error } of unreadable) await this.#query('dead', [id, error, now]);
  }

  async #query<R extends pg.QueryResultRow>(name: Statement, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>({ name: `outbox.${name}`, text: SQL[name], values });
  }

  async claimDue(endpoint: string, now: number, limit: number, lease: Lease): Promise<Delivery[]> {
    const claimed: Delivery[] = [];
    // A head that does not open is dead-lettered, and the claim takes the next in its place.
    for (let wanted = limit; wanted > 0; ) {
      const values = [endpoint, now, wanted, lease.owner, lease.until];
      const { open, unreadable } = await this.#opened((await this.#query<Delivery>('claim', values)).rows);
      claimed.push(...open);
      await this.#deadLetter(unreadable, now);
      wanted = unreadable.length;
    }
    return claimed.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  }

  async claimNext(
    endpoint: string,
    callSid: string,
    now: number,
    lease: Lease,
  ): Promise<Delivery | undefined> {
    for (;;) {
      const values = [endpoint, callSid, now, lease.owner, lease.until];
      const head = (await this.#query<Delivery>('claimNext', values)).rows[0];
      if (!head) return undefined;
      const { open, unreadable } = await this.#opened([head]);
      if (open[0]) return open[0];
      await this.#deadLetter(unreadable, now);
    }
  }

  async nextDueAt(endpoint: string, now: number, owner: string): Promise<number | undefined> {
    const { rows } = await this.#query<{ at: number | null }>('nextDue', [endpoint, now, owner]);
    return rows[0]?.at ?? undefined;
  }

  async markDelivered(id: number, now: number): Promise<void> {
    await this.#query('delivered', [id, now]);
  }

  async markDeliveredThenClaimNext(id: number, now: number, next: NextClaim): Promise<Delivery | undefined> {
    const values = [id, now, next.endpoint, next.callSid, next.lease.owner, next.lease.until];
    const head = (await this.#query<Delivery>('deliveredThenNext', values)).rows[0];
    if (!head) return undefined;
    const { open, unreadable } = await this.#opened([head]);
    if (open[0]) return open[0];
    await this.#deadLetter(unreadable, now);
    return this.claimNext(next.endpoint, next.callSid, now, next.lease);
  }

  async markRetry(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.#query('retry', [id, nextAttemptAt, error]);
  }

  async markFailed(id: number, error: string, now: number): Promise<void> {
    await this.#query('dead', [id, error, now]);
  }

  async release(id: number, owner: string): Promise<void> {
    await this.#query('release', [id, owner]);
  }

  async list(status: DeliveryStatus, limit: number): Promise<Delivery[]> {
    return this.#whenRead((await this.#query<Delivery>('list', [status, limit])).rows);
  }

  async get(id: number): Promise<Delivery | undefined> {
    return (await this.#whenRead((await this.#query<Delivery>('get', [id])).rows))[0];
  }

  async requeue(id: number, now: number): Promise<boolean> {
    return (await this.#query('requeue', [id, now])).rowCount === 1;
  }

  async counts(): Promise<{ endpoint: string; status: DeliveryStatus; n: number }[]> {
    return (await this.#query<{ endpoint: string; status: DeliveryStatus; n: number }>('counts', [])).rows;
  }

  async prune(
    cutoff: number,
    options: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<PruneResult> {
    const total: PruneResult = { events: 0, deliveries: 0, sequences: 0 };
    const limit = options.batchSize ?? PRUNE_BATCH;
    let after: { createdAt: number; id: string } = { createdAt: Number.MIN_SAFE_INTEGER, id: '' };
    for (;;) {
      if (options.signal?.aborted || this.#closed) return total;
      const client = await this.#pool.connect();
      let scanned: { id: string; callSid: string; createdAt: number; done: boolean }[];
      try {
        await client.query('BEGIN');
        scanned = (
          await client.query({
            name: 'outbox.pruneScan',
            text: SQL.pruneScan,
            values: [cutoff, after.createdAt, after.id, limit],
          })
        ).rows;
        const done = scanned.filter((r) => r.done);
        const ids = done.map((r) => r.id);
        if (ids.length > 0) {
          total.deliveries +=
            (await client.query({ name: 'outbox.pruneDeliveries', text: SQL.pruneDeliveries, values: [ids] }))
              .rowCount ?? 0;
          total.events +=
            (await client.query({ name: 'outbox.pruneEvents', text: SQL.pruneEvents, values: [ids] }))
              .rowCount ?? 0;
          const calls = [...new Set(done.map((r) => r.callSid))];
          total.sequences +=
            (await client.query({ name: 'outbox.pruneSequences', text: SQL.pruneSequences, values: [calls] }))
              .rowCount ?? 0;
          for (const callSid of calls) this.#keys.forget(callSid);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
      const last = scanned.at(-1);
      if (!last || scanned.length < limit) return total;
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  async eraseCall(callSid: string): Promise<PruneResult> {
    await this.#appends.settled();
    const { rows } = await this.#query<PruneResult>('erase', [callSid]);
    this.#keys.forget(callSid);
    return rows[0] ?? { events: 0, deliveries: 0, sequences: 0 };
  }

  /** Commits what was appended, then closes the pool (the store owns it). */
  async close(): Promise<void> {
    if (!(await this.#appends.close())) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
