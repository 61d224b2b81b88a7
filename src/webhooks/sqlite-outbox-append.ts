import type Database from 'better-sqlite3';
import { eventEnvelope } from './event-envelope.js';
import type { WebhookEvent } from './event-schemas.js';
import type { AppendRequest } from './outbox-store.js';

export type Append = (
  callSid: string,
  type: string,
  data: unknown,
  endpoints: readonly string[],
  now: number,
) => WebhookEvent;
export type AppendMany = (requests: readonly AppendRequest[]) => WebhookEvent[];

/** On `db`: the call's next seq, the event, a delivery per endpoint; one transaction per call of either. */
export function appender(db: Database.Database): { one: Append; many: AppendMany } {
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
  const append = (
    callSid: string,
    type: string,
    data: unknown,
    endpoints: readonly string[],
    now: number,
  ) => {
    const { last_seq: seq } = nextSeq.get(callSid) as { last_seq: number };
    const event = eventEnvelope(callSid, type, data, seq, now);
    insertEvent.run(event.id, callSid, seq, type, JSON.stringify(event), now);
    for (const endpoint of endpoints) insertDelivery.run(event.id, endpoint, callSid, seq, now, now);
    return event;
  };
  return {
    one: db.transaction(append),
    many: db.transaction((requests: readonly AppendRequest[]) =>
      requests.map((r) => append(r.callSid, r.type, r.data, r.endpoints, r.now)),
    ),
  };
}
