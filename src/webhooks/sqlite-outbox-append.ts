import type Database from 'better-sqlite3';
import type { CallKeys } from '../crypto/call-keys.js';
import { eventEnvelope } from './event-envelope.js';
import type { WebhookEvent } from './event-schemas.js';
import { type AppendRequest, SEALED_BODY } from './outbox-store.js';

export type Append = (
  callSid: string,
  type: string,
  data: unknown,
  endpoints: readonly string[],
  now: number,
) => WebhookEvent;
export type AppendMany = (requests: readonly AppendRequest[]) => WebhookEvent[];

/**
 * On `db`: the call's next seq, the event, a delivery per endpoint; one transaction per call of
 * either. With a keyring, the event's body is sealed under its call's key; a call's first sealed
 * event makes its key row in the same transaction, and the key is cached only once that commits.
 */
export function appender(db: Database.Database, keys: CallKeys): { one: Append; many: AppendMany } {
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
  const addKey = db.prepare(
    'INSERT INTO outbox_keys (call_sid, key_id, wrapped) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const keyRow = db.prepare('SELECT wrapped FROM outbox_keys WHERE call_sid = ?');
  /** Keys of calls first sealed in the transaction running. */
  const learnt = new Map<string, Buffer>();
  const keyOf = (callSid: string): Buffer => {
    const known = keys.cached(callSid) ?? learnt.get(callSid);
    if (known) return known;
    const fresh = keys.fresh(callSid);
    addKey.run(callSid, fresh.keyId, fresh.wrapped);
    const key = keys.unwrap(callSid, (keyRow.get(callSid) as { wrapped: Buffer }).wrapped, fresh);
    learnt.set(callSid, key);
    return key;
  };
  const append = (
    callSid: string,
    type: string,
    data: unknown,
    endpoints: readonly string[],
    now: number,
  ) => {
    const { last_seq: seq } = nextSeq.get(callSid) as { last_seq: number };
    const event = eventEnvelope(callSid, type, data, seq, now);
    const json = JSON.stringify(event);
    const body = keys.sealing ? keys.seal(keyOf(callSid), SEALED_BODY, callSid, event.id, json) : json;
    insertEvent.run(event.id, callSid, seq, type, body, now);
    for (const endpoint of endpoints) insertDelivery.run(event.id, endpoint, callSid, seq, now, now);
    return event;
  };
  /** `transaction`, and once it has committed the keys it made are cached; rolled back, forgotten. */
  const keyed =
    <A extends unknown[], R>(transaction: (...args: A) => R) =>
    (...args: A): R => {
      try {
        const result = transaction(...args);
        for (const [callSid, key] of learnt) keys.remember(callSid, key);
        return result;
      } finally {
        learnt.clear();
      }
    };
  return {
    one: keyed(db.transaction(append)),
    many: keyed(
      db.transaction((requests: readonly AppendRequest[]) =>
        requests.map((r) => append(r.callSid, r.type, r.data, r.endpoints, r.now)),
      ),
    ),
  };
}
