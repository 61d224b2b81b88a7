import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { EVENT_VERSION, type EventData, type EventType, type WebhookEvent } from './event-schemas.js';

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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS call_seq (call_sid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, call_sid TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
  body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id), endpoint TEXT NOT NULL,
  call_sid TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL, last_error TEXT, delivered_at INTEGER);
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (endpoint, status, call_sid, seq);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (endpoint, status, next_attempt_at);
`;

type Append = (
  callSid: string,
  type: string,
  data: unknown,
  endpoints: readonly string[],
  now: number,
) => WebhookEvent;

/** One transaction on `db`: the call's next seq, the event, a delivery per endpoint. */
function appender(db: Database.Database): Append {
  const nextSeq = db.prepare(
    `INSERT INTO call_seq (call_sid, last_seq) VALUES (?, 1)
     ON CONFLICT(call_sid) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
  );
  const insertEvent = db.prepare(
    'INSERT INTO events (id, call_sid, seq, type, body, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insertDelivery = db.prepare(
    `INSERT INTO deliveries (event_id, endpoint, call_sid, seq, status, created_at, next_attempt_at)
     VALUES (?, ?, ?, ?, 'pending', ?, ?)`,
  );
  return db.transaction(
    (callSid: string, type: string, data: unknown, endpoints: readonly string[], now: number) => {
      const { last_seq: seq } = nextSeq.get(callSid) as { last_seq: number };
      const event = {
        id: `evt_${randomBytes(16).toString('hex')}`,
        type,
        version: EVENT_VERSION,
        callSid,
        seq,
        occurredAt: new Date(now).toISOString(),
        data,
      } as WebhookEvent;
      insertEvent.run(event.id, callSid, seq, type, JSON.stringify(event), now);
      for (const endpoint of endpoints) insertDelivery.run(event.id, endpoint, callSid, seq, now, now);
      return event;
    },
  );
}

const COLUMNS = `d.id, d.event_id AS eventId, d.endpoint, d.call_sid AS callSid, d.seq, e.type, d.status,
  d.attempts, d.created_at AS createdAt, d.next_attempt_at AS nextAttemptAt, d.last_error AS lastError,
  d.delivered_at AS deliveredAt, e.body`;

/** `full` fsyncs every commit (survives a power cut); `normal` survives the process dying, not the OS. */
export type OutboxSync = 'full' | 'normal';

/**
 * The durable outbox (SQLite, WAL): an event and one delivery per subscribed endpoint are
 * committed together before `append` returns, so an emitted event survives a crash or restart.
 */
export class Outbox {
  readonly #db: Database.Database;
  /**
   * A second connection, synchronous=NORMAL, for delivery bookkeeping: losing the last "delivered"
   * marks to a power cut only means a re-delivery (at least once), so they need no fsync each.
   */
  readonly #bookkeeping: Database.Database;
  readonly #append: Append;
  readonly #appendEphemeral: Append;
  readonly #statements;

  constructor(path: string, sync: OutboxSync = 'full') {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    this.#bookkeeping = new Database(path);
    this.#bookkeeping.pragma('synchronous = NORMAL');
    this.#bookkeeping.pragma('busy_timeout = 5000');
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
      nextDue: books.prepare(
        `SELECT MIN(next_attempt_at) AS at FROM deliveries WHERE endpoint = ? AND status = 'pending'`,
      ),
      delivered: books.prepare(
        `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?`,
      ),
      retryLater: books.prepare(
        'UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      ),
      dead: books.prepare(
        `UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`,
      ),
      list: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = ? ORDER BY d.id DESC LIMIT ?`,
      ),
      get: books.prepare(
        `SELECT ${COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`,
      ),
      requeue: books.prepare(
        `UPDATE deliveries SET status = 'pending', attempts = 0, created_at = ?, next_attempt_at = ?, last_error = NULL
         WHERE id = ? AND status = 'failed'`,
      ),
      counts: books.prepare(
        'SELECT endpoint, status, COUNT(*) AS n FROM deliveries GROUP BY endpoint, status',
      ),
    };
    this.#append = appender(db);
    this.#appendEphemeral = appender(books);
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
    return append(callSid, type, data, endpoints, now) as WebhookEvent<T>;
  }

  due(endpoint: string, now: number, limit: number): Delivery[] {
    return this.#statements.due.all(endpoint, now, limit) as Delivery[];
  }

  nextDueAt(endpoint: string): number | undefined {
    return (this.#statements.nextDue.get(endpoint) as { at: number | null }).at ?? undefined;
  }

  markDelivered(id: number, now = Date.now()): void {
    this.#statements.delivered.run(now, id);
  }

  markRetry(id: number, nextAttemptAt: number, error: string): void {
    this.#statements.retryLater.run(nextAttemptAt, error, id);
  }

  markFailed(id: number, error: string): void {
    this.#statements.dead.run(error, id);
  }

  list(status: DeliveryStatus, limit: number): Delivery[] {
    return this.#statements.list.all(status, limit) as Delivery[];
  }

  get(id: number): Delivery | undefined {
    return this.#statements.get.get(id) as Delivery | undefined;
  }

  /** A dead-lettered delivery goes back in the queue, with a fresh age. False if it was not failed. */
  requeue(id: number, now = Date.now()): boolean {
    return this.#statements.requeue.run(now, now, id).changes === 1;
  }

  counts(): { endpoint: string; status: DeliveryStatus; n: number }[] {
    return this.#statements.counts.all() as { endpoint: string; status: DeliveryStatus; n: number }[];
  }

  close(): void {
    if (this.#bookkeeping.open) this.#bookkeeping.close();
    if (this.#db.open) this.#db.close();
  }
}
