import Database from 'better-sqlite3';
import { CallKeys } from '../crypto/call-keys.js';
import type { Keyring } from '../crypto/keyring.js';
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
  SEALED_SNAPSHOT,
  STALE_MS,
  type StoredCall,
  type StoredRecording,
  type StoredTranscript,
  WHEREABOUTS_ROW,
  type WhereaboutsRow,
} from './call-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  call_sid TEXT PRIMARY KEY, instance TEXT NOT NULL, state TEXT NOT NULL, started_at INTEGER NOT NULL,
  ended_at INTEGER, updated_at INTEGER NOT NULL, transcript_complete INTEGER NOT NULL DEFAULT 0,
  snapshot TEXT NOT NULL, recording TEXT);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_ended ON calls (ended_at);
CREATE TABLE IF NOT EXISTS transcript_events (
  call_sid TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (call_sid, seq));
CREATE TABLE IF NOT EXISTS call_documents (
  call_sid TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (call_sid, kind));
CREATE TABLE IF NOT EXISTS call_keys (call_sid TEXT PRIMARY KEY, key_id TEXT NOT NULL, wrapped BLOB NOT NULL);
`;

interface KeyRow {
  readonly wrapped: Buffer;
}

/**
 * Call records in DATA_DIR/calls.db for one process: a restarted voxline still answers for the
 * calls it had (a call live when the process died reads as ended, instance_lost). Synchronous
 * NORMAL: a power cut may lose the last writes, a process crash none. With a keyring, snapshots
 * and transcript events are sealed under a data key per call, wrapped in call_keys (CallKeys).
 */
export class SqliteCallStore implements CallStore {
  readonly shared = false;
  readonly #db: Database.Database;
  readonly #sql;
  readonly #keys: CallKeys;

  constructor(path: string, keyring?: Keyring) {
    this.#keys = new CallKeys(keyring, 'call');
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    // A deleted key row is zeroed in its page, not left in the file for as long as the page lives.
    if (keyring) this.#db.pragma('secure_delete = FAST');
    this.#db.exec(SCHEMA);
    // calls.db files from before recordings were kept have no recording column.
    const columns = this.#db.pragma('table_info(calls)') as { name: string }[];
    if (!columns.some((c) => c.name === 'recording'))
      this.#db.exec('ALTER TABLE calls ADD COLUMN recording TEXT');
    const db = this.#db;
    this.#sql = {
      save: db.prepare(
        `INSERT INTO calls (call_sid, instance, state, started_at, ended_at, updated_at, snapshot)
         VALUES (@callSid, @instance, @state, @startedAt, @endedAt, @now, @snapshot)
         ON CONFLICT (call_sid) DO UPDATE SET instance = @instance, state = @state, ended_at = @endedAt,
           updated_at = @now, snapshot = @snapshot`,
      ),
      event: db.prepare('INSERT OR IGNORE INTO transcript_events (call_sid, seq, body) VALUES (?, ?, ?)'),
      end: db.prepare('UPDATE calls SET transcript_complete = 1 WHERE call_sid = ?'),
      recording: db.prepare('UPDATE calls SET recording = ? WHERE call_sid = ?'),
      uploaded: db.prepare(
        `UPDATE calls SET recording = json_set(recording, '$.uploaded', json('true'))
         WHERE call_sid = ? AND recording IS NOT NULL`,
      ),
      get: db.prepare(`SELECT ${CALL_ROW} FROM calls WHERE call_sid = ?`),
      locate: db.prepare(`SELECT ${WHEREABOUTS_ROW} FROM calls WHERE call_sid = ?`),
      live: db.prepare(
        `SELECT ${CALL_ROW} FROM calls WHERE state = 'live' AND updated_at >= ?
         ORDER BY started_at DESC LIMIT ?`,
      ),
      ended: db.prepare(
        `SELECT ${CALL_ROW} FROM calls WHERE state = 'ended' OR updated_at < ?
         ORDER BY started_at DESC LIMIT ?`,
      ),
      all: db.prepare(`SELECT ${CALL_ROW} FROM calls ORDER BY started_at DESC LIMIT ?`),
      complete: db.prepare('SELECT transcript_complete AS complete FROM calls WHERE call_sid = ?'),
      events: db.prepare(
        'SELECT seq, body FROM transcript_events WHERE call_sid = ? AND seq > ? ORDER BY seq',
      ),
      addKey: db.prepare(
        'INSERT INTO call_keys (call_sid, key_id, wrapped) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      key: db.prepare('SELECT wrapped FROM call_keys WHERE call_sid = ?'),
      pruneKey: db.prepare('DELETE FROM call_keys WHERE call_sid = ?'),
      doomed: db.prepare(
        `SELECT call_sid FROM calls WHERE (state = 'ended' AND ended_at < @cutoff)
           OR (state = 'live' AND updated_at < @cutoff) LIMIT 500`,
      ),
      pruneEvents: db.prepare('DELETE FROM transcript_events WHERE call_sid = ?'),
      saveDocument: db.prepare(
        `INSERT INTO call_documents (call_sid, kind, body) VALUES (?, ?, ?)
         ON CONFLICT (call_sid, kind) DO UPDATE SET body = excluded.body`,
      ),
      document: db.prepare('SELECT body FROM call_documents WHERE call_sid = ? AND kind = ?'),
      exists: db.prepare('SELECT 1 FROM calls WHERE call_sid = ?'),
      pruneDocuments: db.prepare('DELETE FROM call_documents WHERE call_sid = ?'),
      pruneCall: db.prepare('DELETE FROM calls WHERE call_sid = ?'),
    };
  }

  async saveCall(snapshot: CallSnapshot, instance: string, now: number): Promise<void> {
    this.#sql.save.run({
      callSid: snapshot.callSid,
      instance,
      state: snapshot.state,
      startedAt: Date.parse(snapshot.startedAt),
      endedAt: snapshot.endedAt ? Date.parse(snapshot.endedAt) : null,
      now,
      snapshot: this.#sealed(snapshot.callSid, SEALED_SNAPSHOT, 'snapshot', JSON.stringify(snapshot)),
    });
  }

  async addTranscriptEvent(callSid: string, event: SequencedEvent): Promise<void> {
    if (event.type === 'partial') return;
    this.#sql.event.run(
      callSid,
      event.seq,
      this.#sealed(callSid, SEALED_EVENT, event.seq, JSON.stringify(event)),
    );
  }

  async endTranscript(callSid: string): Promise<void> {
    this.#sql.end.run(callSid);
  }

  async saveRecording(callSid: string, recording: StoredRecording): Promise<void> {
    this.#sql.recording.run(JSON.stringify(recording), callSid);
  }

  async recordingUploaded(callSid: string): Promise<void> {
    this.#sql.uploaded.run(callSid);
  }

  async getCall(callSid: string, now: number): Promise<StoredCall | undefined> {
    const row = this.#sql.get.get(callSid) as CallRow | undefined;
    return row && this.#stored(row, now);
  }

  async locateCall(callSid: string, now: number): Promise<CallWhereabouts | undefined> {
    const row = this.#sql.locate.get(callSid) as WhereaboutsRow | undefined;
    return row && asWhereabouts(row, now);
  }

  async listCalls(state: 'live' | 'ended' | 'all', limit: number, now: number): Promise<StoredCall[]> {
    const rows = (
      state === 'all' ? this.#sql.all.all(limit) : this.#sql[state].all(now - STALE_MS, limit)
    ) as CallRow[];
    return rows.map((row) => this.#stored(row, now));
  }

  async transcript(callSid: string, afterSeq: number): Promise<StoredTranscript | undefined> {
    const row = this.#sql.complete.get(callSid) as { complete: number } | undefined;
    if (!row) return undefined;
    const rows = this.#sql.events.all(callSid, afterSeq) as { seq: number; body: string }[];
    const wrapped = rows.some((r) => this.#keys.needsKeyRow(callSid, r.body))
      ? this.#keyRow(callSid)
      : undefined;
    const events = rows.map(
      (r) => JSON.parse(this.#keys.open(r.body, SEALED_EVENT, callSid, r.seq, wrapped)) as SequencedEvent,
    );
    return { events, complete: row.complete === 1 };
  }

  async saveDocument(callSid: string, kind: CallDocumentKind, body: string): Promise<void> {
    // A call erased (or pruned) meanwhile gets nothing back: no document, no new key row.
    if (!this.#sql.exists.get(callSid)) return;
    this.#sql.saveDocument.run(callSid, kind, this.#sealed(callSid, SEALED_DOCUMENT, kind, body));
  }

  async document(callSid: string, kind: CallDocumentKind): Promise<string | undefined> {
    const row = this.#sql.document.get(callSid, kind) as { body: string } | undefined;
    if (!row) return undefined;
    const wrapped = this.#keys.needsKeyRow(callSid, row.body) ? this.#keyRow(callSid) : undefined;
    return this.#keys.open(row.body, SEALED_DOCUMENT, callSid, kind, wrapped);
  }

  #stored(row: CallRow, now: number): StoredCall {
    const wrapped = this.#keys.needsKeyRow(row.call_sid, row.snapshot)
      ? this.#keyRow(row.call_sid)
      : undefined;
    return asStored(row, now, this.#keys, wrapped);
  }

  #keyRow(callSid: string): Buffer | undefined {
    return (this.#sql.key.get(callSid) as KeyRow | undefined)?.wrapped;
  }

  /** `clear` as its column keeps it: with a keyring, sealed under the call's key (made at its first write). */
  #sealed(callSid: string, table: string, row: string | number, clear: string): string {
    if (!this.#keys.sealing) return clear;
    return this.#keys.seal(this.#sealingKey(callSid), table, callSid, row, clear);
  }

  #sealingKey(callSid: string): Buffer {
    const cached = this.#keys.cached(callSid);
    if (cached) return cached;
    const fresh = this.#keys.fresh(callSid);
    this.#sql.addKey.run(callSid, fresh.keyId, fresh.wrapped);
    const key = this.#keys.unwrap(callSid, this.#keyRow(callSid) as Buffer, fresh);
    this.#keys.remember(callSid, key);
    return key;
  }

  /** One process: a call not held here now will get nothing new, so its replay ends the feed. */
  async follow(
    callSid: string,
    afterSeq: number,
    listener: (event: CallFeedEvent) => void,
  ): Promise<() => void> {
    for (const event of (await this.transcript(callSid, afterSeq))?.events ?? []) listener(event);
    listener({ type: 'end' });
    return () => undefined;
  }

  async prune(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = this.#db.transaction(() => {
        const calls = this.#sql.doomed.all({ cutoff }) as { call_sid: string }[];
        for (const { call_sid } of calls) {
          this.#sql.pruneEvents.run(call_sid);
          this.#sql.pruneDocuments.run(call_sid);
          this.#sql.pruneCall.run(call_sid);
          this.#sql.pruneKey.run(call_sid);
          this.#keys.forget(call_sid);
        }
        return calls.length;
      })();
      deleted += batch;
      if (batch < 500) return deleted;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async eraseCall(callSid: string): Promise<{ calls: number; transcriptEvents: number }> {
    const erased = this.#db.transaction(() => {
      const rows = {
        transcriptEvents: this.#sql.pruneEvents.run(callSid).changes,
        calls: this.#sql.pruneCall.run(callSid).changes,
      };
      this.#sql.pruneDocuments.run(callSid);
      this.#sql.pruneKey.run(callSid);
      return rows;
    })();
    this.#keys.forget(callSid);
    return erased;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
