import type pg from 'pg';
import { CallKeys } from '../crypto/call-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import { isVoxlineError } from '../errors.js';
import { migrate } from '../store/postgres.js';
import type { SequencedEvent } from '../transcripts/call-transcript.js';
import type { CallSnapshot } from './call.js';
import {
  asStored,
  asWhereabouts,
  CALL_ROW,
  type CallDocumentKind,
  type CallFeedEvent,
  type CallRow,
  type CallStore,
  type CallWhereabouts,
  SEALED_DOCUMENT,
  SEALED_EVENT,
  SEALED_PARTIAL,
  SEALED_SNAPSHOT,
  STALE_MS,
  type StoredCall,
  type StoredRecording,
  type StoredTranscript,
  WHEREABOUTS_ROW,
  type WhereaboutsRow,
} from './call-store.js';

/** The calls' tables; versions 2, 4, 5 and 11 (the outbox has 1, 3 and 6), in the same migrations table. */
export const CALL_MIGRATIONS = [
  {
    version: 2,
    name: 'calls',
    sql: `
CREATE TABLE calls (
  call_sid TEXT PRIMARY KEY, instance TEXT NOT NULL, state TEXT NOT NULL, started_at BIGINT NOT NULL,
  ended_at BIGINT, updated_at BIGINT NOT NULL, transcript_complete BOOLEAN NOT NULL DEFAULT false,
  snapshot TEXT NOT NULL);
CREATE INDEX calls_started ON calls (started_at DESC);
CREATE INDEX calls_ended ON calls (ended_at);
CREATE TABLE transcript_events (
  call_sid TEXT NOT NULL, seq BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (call_sid, seq));
`,
  },
  { version: 4, name: 'call recordings', sql: 'ALTER TABLE calls ADD COLUMN recording TEXT;' },
  {
    // ENCRYPTION_KEY: each call's data key, wrapped under the master key `key_id` names.
    version: 5,
    name: 'call data keys',
    sql: 'CREATE TABLE call_keys (call_sid TEXT PRIMARY KEY, key_id TEXT NOT NULL, wrapped BYTEA NOT NULL);',
  },
  {
    // After the call: the refined transcript and the analysis, one row each.
    version: 11,
    name: 'call documents',
    sql: `CREATE TABLE call_documents (
  call_sid TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (call_sid, kind));`,
  },
] as const;

/**
 * NOTIFY channel: `{"c":callSid,"s":seq}` for a stored event, `{"c":…,"p":event}` a partial
 * (sealed: `{"c":…,"n":seq,"q":"vx1:…"}`, as NOTIFY's queue may spill to disk), `{"c":…,"end":1}`.
 */
const CHANNEL = 'voxline_calls';
/** NOTIFY payloads must stay under 8000 bytes; a partial longer than this is not passed on. */
const MAX_PAYLOAD = 7_500;

interface Follower {
  readonly listener: (event: CallFeedEvent) => void;
  lastSeq: number;
  ended: boolean;
  /** Reads of the stored events run one at a time, so followers get them in order, once. */
  reading: Promise<void>;
}

/**
 * Call records and final transcripts in PostgreSQL: every instance writes the calls it holds and
 * answers for any. A follower of a call held elsewhere hears of new events through LISTEN/NOTIFY
 * on one connection per instance, then reads them from the table (so nothing is missed between
 * its replay and its first notification). With a keyring, snapshots, events and partials are
 * sealed under a data key per call, wrapped in call_keys, which every instance with the same
 * ENCRYPTION_KEY unwraps.
 */
export class PostgresCallStore implements CallStore {
  readonly shared = true;
  readonly #pool: pg.Pool;
  readonly #followers = new Map<string, Set<Follower>>();
  readonly #keys: CallKeys;
  #listener: Promise<pg.PoolClient> | undefined;
  #closed = false;

  private constructor(pool: pg.Pool, keyring: Keyring | undefined) {
    this.#pool = pool;
    this.#keys = new CallKeys(keyring, 'call');
  }

  static async open(pool: pg.Pool, keyring?: Keyring): Promise<PostgresCallStore> {
    await migrate(pool, CALL_MIGRATIONS);
    return new PostgresCallStore(pool, keyring);
  }

  async saveCall(snapshot: CallSnapshot, instance: string, now: number): Promise<void> {
    await this.#pool.query({
      name: 'calls.save',
      text: `INSERT INTO calls (call_sid, instance, state, started_at, ended_at, updated_at, snapshot)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (call_sid) DO UPDATE SET instance = $2, state = $3, ended_at = $5, updated_at = $6,
               snapshot = $7`,
      values: [
        snapshot.callSid,
        instance,
        snapshot.state,
        Date.parse(snapshot.startedAt),
        snapshot.endedAt ? Date.parse(snapshot.endedAt) : null,
        now,
        await this.#sealed(snapshot.callSid, SEALED_SNAPSHOT, 'snapshot', JSON.stringify(snapshot)),
      ],
    });
  }

  async addTranscriptEvent(callSid: string, event: SequencedEvent): Promise<void> {
    if (event.type === 'partial') {
      const payload = JSON.stringify(
        this.#keys.sealing
          ? {
              c: callSid,
              n: event.seq,
              q: await this.#sealed(callSid, SEALED_PARTIAL, event.seq, JSON.stringify(event)),
            }
          : { c: callSid, p: event },
      );
      if (Buffer.byteLength(payload) <= MAX_PAYLOAD) await this.#notify(payload);
      return;
    }
    await this.#pool.query({
      name: 'calls.event',
      text: `WITH stored AS (
               INSERT INTO transcript_events (call_sid, seq, body) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING seq)
             SELECT pg_notify('${CHANNEL}', $4) FROM stored`,
      values: [
        callSid,
        event.seq,
        await this.#sealed(callSid, SEALED_EVENT, event.seq, JSON.stringify(event)),
        JSON.stringify({ c: callSid, s: event.seq }),
      ],
    });
  }

  /** `clear` as its column keeps it: with a keyring, sealed under the call's key (made at its first write). */
  async #sealed(callSid: string, table: string, row: string | number, clear: string): Promise<string> {
    if (!this.#keys.sealing) return clear;
    return this.#keys.seal(await this.#sealingKey(callSid), table, callSid, row, clear);
  }

  async #sealingKey(callSid: string): Promise<Buffer> {
    const cached = this.#keys.cached(callSid);
    if (cached) return cached;
    const fresh = this.#keys.fresh(callSid);
    const { rows } = await this.#pool.query<{ wrapped: Buffer }>({
      name: 'calls.addKey',
      text: `WITH added AS (
               INSERT INTO call_keys (call_sid, key_id, wrapped) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING wrapped)
             SELECT wrapped FROM added UNION ALL SELECT wrapped FROM call_keys WHERE call_sid = $1`,
      values: [callSid, fresh.keyId, fresh.wrapped],
    });
    // None when another instance's insert committed while this one waited for it: the statement's
    // snapshot is older than that row, a new read is not.
    const wrapped = rows[0]?.wrapped ?? (await this.#keyRows([callSid])).get(callSid);
    if (!wrapped) throw new Error(`the data key row of ${callSid} was deleted as it was made`);
    const key = this.#keys.unwrap(callSid, wrapped, fresh);
    this.#keys.remember(callSid, key);
    return key;
  }

  /** The key rows of calls whose keys are not cached (one query, none for an empty list). */
  async #keyRows(callSids: readonly string[]): Promise<Map<string, Buffer>> {
    if (callSids.length === 0) return new Map();
    const { rows } = await this.#pool.query<{ call_sid: string; wrapped: Buffer }>({
      name: 'calls.keys',
      text: 'SELECT call_sid, wrapped FROM call_keys WHERE call_sid = ANY($1::text[])',
      values: [callSids],
    });
    return new Map(rows.map((r) => [r.call_sid, r.wrapped]));
  }

  /** The records of `rows`, their snapshots opened (the keys not cached read in one query). */
  async #stored(rows: readonly CallRow[], now: number): Promise<StoredCall[]> {
    const needed = rows.filter((r) => this.#keys.needsKeyRow(r.call_sid, r.snapshot)).map((r) => r.call_sid);
    const wrapped = await this.#keyRows([...new Set(needed)]);
    return rows.map((row) => asStored(row, now, this.#keys, wrapped.get(row.call_sid)));
  }

  async endTranscript(callSid: string): Promise<void> {
    await this.#pool.query({
      name: 'calls.end',
      text: `WITH done AS (UPDATE calls SET transcript_complete = true WHERE call_sid = $1 RETURNING call_sid)
             SELECT pg_notify('${CHANNEL}', $2) FROM done`,
      values: [callSid, JSON.stringify({ c: callSid, end: 1 })],
    });
  }

  async saveRecording(callSid: string, recording: StoredRecording): Promise<void> {
    await this.#pool.query({
      name: 'calls.recording',
      text: 'UPDATE calls SET recording = $2 WHERE call_sid = $1',
      values: [callSid, JSON.stringify(recording)],
    });
  }

  async recordingUploaded(callSid: string): Promise<void> {
    await this.#pool.query({
      name: 'calls.uploaded',
      text: `UPDATE calls SET recording = (recording::jsonb || '{"uploaded":true}')::text
             WHERE call_sid = $1 AND recording IS NOT NULL`,
      values: [callSid],
    });
  }

  async #notify(payload: string): Promise<void> {
    await this.#pool.query({
      name: 'calls.notify',
      text: `SELECT pg_notify('${CHANNEL}', $1)`,
      values: [payload],
    });
  }

  async getCall(callSid: string, now: number): Promise<StoredCall | undefined> {
    const { rows } = await this.#pool.query<CallRow>({
      name: 'calls.get',
      text: `SELECT ${CALL_ROW} FROM calls WHERE call_sid = $1`,
      values: [callSid],
    });
    return (await this.#stored(rows, now))[0];
  }

  async locateCall(callSid: string, now: number): Promise<CallWhereabouts | undefined> {
    const { rows } = await this.#pool.query<WhereaboutsRow>({
      name: 'calls.locate',
      text: `SELECT ${WHEREABOUTS_ROW} FROM calls WHERE call_sid = $1`,
      values: [callSid],
    });
    return rows[0] && asWhereabouts(rows[0], now);
  }

  async listCalls(state: 'live' | 'ended' | 'all', limit: number, now: number): Promise<StoredCall[]> {
    const where = {
      live: "state = 'live' AND updated_at >= $2",
      ended: "(state = 'ended' OR updated_at < $2)",
      all: '$2::bigint IS NOT NULL',
    }[state];
    const { rows } = await this.#pool.query<CallRow>({
      name: `calls.list.${state}`,
      text: `SELECT ${CALL_ROW} FROM calls WHERE ${where} ORDER BY started_at DESC LIMIT $1`,
      values: [limit, now - STALE_MS],
    });
    return this.#stored(rows, now);
  }

  async transcript(callSid: string, afterSeq: number): Promise<StoredTranscript | undefined> {
    const { rows } = await this.#pool.query<{ complete: boolean }>({
      name: 'calls.complete',
      text: 'SELECT transcript_complete AS complete FROM calls WHERE call_sid = $1',
      values: [callSid],
    });
    if (!rows[0]) return undefined;
    return { events: await this.#events(callSid, afterSeq), complete: rows[0].complete };
  }

  async #events(callSid: string, afterSeq: number): Promise<SequencedEvent[]> {
    const { rows } = await this.#pool.query<{ seq: number; body: string }>({
      name: 'calls.events',
      text: 'SELECT seq, body FROM transcript_events WHERE call_sid = $1 AND seq > $2 ORDER BY seq',
      values: [callSid, afterSeq],
    });
    const sealed = rows.some((r) => this.#keys.needsKeyRow(callSid, r.body));
    const wrapped = sealed ? (await this.#keyRows([callSid])).get(callSid) : undefined;
    return rows.map(
      (r) => JSON.parse(this.#keys.open(r.body, SEALED_EVENT, callSid, r.seq, wrapped)) as SequencedEvent,
    );
  }

  async saveDocument(callSid: string, kind: CallDocumentKind, body: string): Promise<void> {
    // A call erased (or pruned) meanwhile gets nothing back: no document, no new key row.
    const { rowCount } = await this.#pool.query({
      name: 'calls.exists',
      text: 'SELECT 1 FROM calls WHERE call_sid = $1',
      values: [callSid],
    });
    if (!rowCount) return;
    await this.#pool.query({
      name: 'calls.save-document',
      text: `INSERT INTO call_documents (call_sid, kind, body)
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM calls WHERE call_sid = $1)
             ON CONFLICT (call_sid, kind) DO UPDATE SET body = $3`,
      values: [callSid, kind, await this.#sealed(callSid, SEALED_DOCUMENT, kind, body)],
    });
  }

  async document(callSid: string, kind: CallDocumentKind): Promise<string | undefined> {
    const { rows } = await this.#pool.query<{ body: string }>({
      name: 'calls.document',
      text: 'SELECT body FROM call_documents WHERE call_sid = $1 AND kind = $2',
      values: [callSid, kind],
    });
    const body = rows[0]?.body;
    if (body === undefined) return undefined;
    const wrapped = this.#keys.needsKeyRow(callSid, body)
      ? (await this.#keyRows([callSid])).get(callSid)
      : undefined;
    return this.#keys.open(body, SEALED_DOCUMENT, callSid, kind, wrapped);
  }

  async #openPartial(callSid: string, seq: number, sealed: string): Promise<SequencedEvent> {
    const wrapped = this.#keys.needsKeyRow(callSid, sealed)
      ? (await this.#keyRows([callSid])).get(callSid)
      : undefined;
    return JSON.parse(this.#keys.open(sealed, SEALED_PARTIAL, callSid, seq, wrapped)) as SequencedEvent;
  }

  async follow(
    callSid: string,
    afterSeq: number,
    listener: (event: CallFeedEvent) => void,
  ): Promise<() => void> {
    await this.#listen();
    const follower: Follower = { listener, lastSeq: afterSeq, ended: false, reading: Promise.resolve() };
    const set = this.#followers.get(callSid) ?? new Set<Follower>();
    this.#followers.set(callSid, set);
    set.add(follower);
    // Listening first, then the catch-up read: an event stored meanwhile is read here or notified.
    follower.reading = follower.reading
      .then(() => this.#catchUp(callSid, follower))
      .catch((err: unknown) => unreadable(follower, err));
    return () => {
      set.delete(follower);
      if (set.size === 0) this.#followers.delete(callSid);
    };
  }

  /** One LISTEN connection per instance, opened at the first follower. */
  #listen(): Promise<pg.PoolClient> {
    this.#listener ??= (async () => {
      const client = await this.#pool.connect();
      client.on('notification', (message) => {
        if (message.channel === CHANNEL && message.payload) this.#notified(message.payload);
      });
      client.on('error', () => this.#lostListener(client));
      await client.query(`LISTEN ${CHANNEL}`);
      return client;
    })();
    return this.#listener;
  }

  /** The LISTEN connection broke: followers are ended (SSE clients resume with Last-Event-ID). */
  #lostListener(client: pg.PoolClient): void {
    this.#listener = undefined;
    client.release(true);
    for (const set of this.#followers.values()) for (const f of set) deliver(f, { type: 'end' });
    this.#followers.clear();
  }

  async #catchUp(callSid: string, f: Follower): Promise<void> {
    const stored = await this.transcript(callSid, f.lastSeq);
    for (const event of stored?.events ?? []) {
      f.lastSeq = Math.max(f.lastSeq, event.seq);
      deliver(f, event);
    }
    if (!stored || stored.complete) deliver(f, { type: 'end' });
  }

  #notified(payload: string): void {
    let message: { c?: string; s?: number; p?: SequencedEvent; n?: number; q?: string; end?: number };
    try {
      message = JSON.parse(payload);
    } catch {
      return; // not ours
    }
    const followers = message.c ? this.#followers.get(message.c) : undefined;
    if (!followers || !message.c) return;
    const callSid = message.c;
    const { n, q } = message;
    // A sealed partial is opened once, and only if a follower is not past it.
    let opened: Promise<SequencedEvent> | undefined;
    const partial = (seq: number, sealed: string) => {
      opened ??= this.#openPartial(callSid, seq, sealed);
      return opened;
    };
    for (const f of followers) {
      // In order behind any read in progress: stored events first, then this partial or the end.
      f.reading = f.reading
        .then(async () => {
          if (message.s !== undefined && message.s > f.lastSeq)
            await this.#catchUp(callSid, f).catch((err: unknown) => unreadable(f, err));
          else if (message.p && message.p.seq > f.lastSeq) deliver(f, message.p);
          else if (n !== undefined && q !== undefined && n > f.lastSeq) deliver(f, await partial(n, q));
          else if (message.end) deliver(f, { type: 'end' });
        })
        .catch(() => undefined);
    }
  }

  async prune(cutoff: number): Promise<number> {
    const { rows } = await this.#pool.query<{ call_sid: string }>({
      name: 'calls.prune',
      text: `WITH doomed AS (
               DELETE FROM calls WHERE (state = 'ended' AND ended_at < $1) OR (state = 'live' AND updated_at < $1)
               RETURNING call_sid),
             events AS (DELETE FROM transcript_events t USING doomed WHERE t.call_sid = doomed.call_sid),
             documents AS (DELETE FROM call_documents d USING doomed WHERE d.call_sid = doomed.call_sid),
             keys AS (DELETE FROM call_keys k USING doomed WHERE k.call_sid = doomed.call_sid)
             SELECT call_sid FROM doomed`,
      values: [cutoff],
    });
    for (const row of rows) this.#keys.forget(row.call_sid);
    return rows.length;
  }

  async eraseCall(callSid: string): Promise<{ calls: number; transcriptEvents: number }> {
    const { rows } = await this.#pool.query<{ calls: number; events: number }>({
      name: 'calls.erase',
      text: `WITH c AS (DELETE FROM calls WHERE call_sid = $1 RETURNING 1),
                  e AS (DELETE FROM transcript_events WHERE call_sid = $1 RETURNING 1),
                  d AS (DELETE FROM call_documents WHERE call_sid = $1),
                  k AS (DELETE FROM call_keys WHERE call_sid = $1)
             SELECT (SELECT count(*) FROM c)::int AS calls, (SELECT count(*) FROM e)::int AS events`,
      values: [callSid],
    });
    this.#keys.forget(callSid);
    return { calls: rows[0]?.calls ?? 0, transcriptEvents: rows[0]?.events ?? 0 };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const listener = await this.#listener?.catch(() => undefined);
    listener?.release();
    await this.#pool.end();
  }
}

/**
 * A stored event that does not open (VL_ERR_DECRYPTION, VL_ERR_ENCRYPTION_KEY) ends the follower,
 * rather than leave it waiting on a row it can never pass; the transcript read answers the error.
 * Other failures are left for the next notification's catch-up, as before.
 */
function unreadable(f: Follower, err: unknown): void {
  if (isVoxlineError(err, 'VL_ERR_DECRYPTION') || isVoxlineError(err, 'VL_ERR_ENCRYPTION_KEY'))
    deliver(f, { type: 'end' });
}

/** Nothing reaches a follower after its end. */
function deliver(f: Follower, event: CallFeedEvent): void {
  if (f.ended) return;
  if (event.type === 'end') f.ended = true;
  f.listener(event);
}
