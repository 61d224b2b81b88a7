import type { Migration } from '../store/postgres.js';

/** The outbox's tables on PostgreSQL: the same shape as the SQLite file, times in ms since the epoch. */
export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox',
    sql: `
CREATE TABLE call_seq (call_sid TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE events (
  id TEXT PRIMARY KEY, call_sid TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL,
  body TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (call_sid, seq));
CREATE TABLE deliveries (
  id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL REFERENCES events(id), endpoint TEXT NOT NULL,
  call_sid TEXT NOT NULL, seq BIGINT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, last_error TEXT, delivered_at BIGINT,
  finished_at BIGINT, lease_owner TEXT, lease_until BIGINT);
CREATE INDEX deliveries_queue ON deliveries (endpoint, call_sid, seq) WHERE status = 'pending';
CREATE INDEX deliveries_due ON deliveries (endpoint, next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX events_age ON events (created_at, id);
CREATE INDEX events_call ON events (call_sid);
`,
  },
  {
    // Version 2 is the call records' (src/calls/postgres-call-store.ts).
    version: 3,
    name: 'outbox leases',
    sql: `CREATE INDEX deliveries_leased ON deliveries (endpoint, lease_until)
          WHERE status = 'pending' AND lease_until IS NOT NULL;`,
  },
  {
    // Version 5 is the call records' data keys; ENCRYPTION_KEY: each call's data key for its
    // events' bodies, wrapped under the master key `key_id` names.
    version: 6,
    name: 'outbox data keys',
    sql: 'CREATE TABLE outbox_keys (call_sid TEXT PRIMARY KEY, key_id TEXT NOT NULL, wrapped BYTEA NOT NULL);',
  },
];
