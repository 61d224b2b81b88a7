import type Database from 'better-sqlite3';

/**
 * The SQLite outbox's tables, and the columns and indexes later versions added. outbox_keys
 * (ENCRYPTION_KEY): each call's data key, wrapped under the master key `key_id` names.
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS call_seq (call_sid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, call_sid TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
  body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id), endpoint TEXT NOT NULL,
  call_sid TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL, last_error TEXT, delivered_at INTEGER,
  finished_at INTEGER, lease_owner TEXT, lease_until INTEGER);
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (endpoint, status, call_sid, seq);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (endpoint, status, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_keys (call_sid TEXT PRIMARY KEY, key_id TEXT NOT NULL, wrapped BLOB NOT NULL);
`;

/** For retention: events by age, an event's deliveries, a call's events; for claims: leases held. */
const LATER_INDEXES = `
CREATE INDEX IF NOT EXISTS events_age ON events (created_at);
CREATE INDEX IF NOT EXISTS events_call ON events (call_sid);
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries (endpoint, lease_until)
  WHERE status = 'pending' AND lease_until IS NOT NULL;
`;

/**
 * Outboxes written before retention have no finished_at (NULL there; see FINISHED_AT), those
 * written before claims no lease columns: add them.
 */
export function migrate(db: Database.Database): void {
  const columns = new Set((db.pragma('table_info(deliveries)') as { name: string }[]).map((c) => c.name));
  for (const [name, type] of [
    ['finished_at', 'INTEGER'],
    ['lease_owner', 'TEXT'],
    ['lease_until', 'INTEGER'],
  ]) {
    if (!columns.has(name)) db.exec(`ALTER TABLE deliveries ADD COLUMN ${name} ${type}`);
  }
  db.exec(LATER_INDEXES);
}

/**
 * When a delivery was finished: delivered or dead-lettered (`finished_at`; rows from before that
 * column: when delivered, or when its last retry was due, which is at most one attempt earlier).
 */
export const FINISHED_AT = 'COALESCE(d.finished_at, d.delivered_at, d.next_attempt_at)';
