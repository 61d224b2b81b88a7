import Database from 'better-sqlite3';
import {
  AUDIT_COLUMNS,
  AUDIT_PRUNE_BATCH,
  type AuditEntry,
  type AuditLog,
  type AuditOutcome,
  type AuditQuery,
  type AuditRecord,
  type AuditRow,
  auditFilters,
  fromRow,
} from './audit-log.js';

// AUTOINCREMENT: an id is never reused, even after the newest entries are pruned.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  call_sid TEXT, target TEXT, ip TEXT NOT NULL, user_agent TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
  instance TEXT NOT NULL, status INTEGER, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_call ON audit_log (call_sid, id);
`;

/**
 * The audit log in the calls' SQLite file (DATA_DIR/calls.db), on a connection of its own with
 * synchronous FULL: an entry that let a read through survives a power cut, not only a crash.
 */
export class SqliteAuditLog implements AuditLog {
  readonly #db: Database.Database;
  readonly #sql;
  readonly #lists = new Map<string, Database.Statement>();

  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    const db = this.#db;
    this.#sql = {
      append: db.prepare(
        `INSERT INTO audit_log (at, actor, action, call_sid, target, ip, user_agent, method, path, instance, status, detail)
         VALUES (@at, @actor, @action, @callSid, @target, @ip, @userAgent, @method, @path, @instance, @status, @detail)`,
      ),
      settle: db.prepare(
        `UPDATE audit_log SET status = @status, call_sid = COALESCE(call_sid, @callSid), detail = COALESCE(@detail, detail)
         WHERE id = @id AND status IS NULL`,
      ),
      expired: db.prepare(
        `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT ${AUDIT_PRUNE_BATCH})`,
      ),
      // The id of the newest entry beyond the cap (the cap-th newest is the oldest kept).
      capEdge: db.prepare('SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?'),
      overCap: db.prepare(
        `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id <= ? ORDER BY id LIMIT ${AUDIT_PRUNE_BATCH})`,
      ),
    };
  }

  async append(record: AuditRecord): Promise<number> {
    const result = this.#sql.append.run({
      ...record,
      detail: record.detail === null ? null : JSON.stringify(record.detail),
    });
    return Number(result.lastInsertRowid);
  }

  async settle(id: number, outcome: AuditOutcome): Promise<void> {
    this.#sql.settle.run({
      id,
      status: outcome.status,
      callSid: outcome.callSid ?? null,
      detail: outcome.detail === undefined ? null : JSON.stringify(outcome.detail),
    });
  }

  async list(query: AuditQuery): Promise<AuditEntry[]> {
    const { where, values } = auditFilters(query, () => '?');
    let statement = this.#lists.get(where);
    if (!statement) {
      // One statement per combination of filters (at most 16), each planned for its index.
      statement = this.#db.prepare(
        `SELECT ${AUDIT_COLUMNS} FROM audit_log ${where} ORDER BY id DESC LIMIT ?`,
      );
      this.#lists.set(where, statement);
    }
    return (statement.all(...values, query.limit) as AuditRow[]).map(fromRow);
  }

  async prune(cutoff: number, maxEntries: number): Promise<{ expired: number; overCap: number }> {
    // A prune still going when the log is closed (shutdown) stops at its next batch.
    const expired = await inBatches(() => (this.#db.open ? this.#sql.expired.run(cutoff).changes : 0));
    const edge = this.#db.open
      ? (this.#sql.capEdge.get(maxEntries) as { id: number } | undefined)
      : undefined;
    const overCap = edge
      ? await inBatches(() => (this.#db.open ? this.#sql.overCap.run(edge.id).changes : 0))
      : 0;
    return { expired, overCap };
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/** Runs `batch` until it deletes less than a full batch, yielding to the event loop between. */
async function inBatches(batch: () => number): Promise<number> {
  let total = 0;
  for (;;) {
    const n = batch();
    total += n;
    if (n < AUDIT_PRUNE_BATCH) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
