import type pg from 'pg';
import { type Migration, migrate } from '../store/postgres.js';
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

/**
 * The audit log's table, in the migrations table the outbox (1, 3) and the calls (2, 4) use.
 * Version 10, not 5: the next ones are left to those two, and a number taken twice would skip a
 * migration silently (migrate applies every version not recorded, whatever its order).
 */
export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 10,
    name: 'audit log',
    sql: `
CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  call_sid TEXT, target TEXT, ip TEXT NOT NULL, user_agent TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
  instance TEXT NOT NULL, status INTEGER, detail TEXT);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX audit_call ON audit_log (call_sid, id);
`,
  },
];

/**
 * The audit log in PostgreSQL, shared by every instance of a cluster: an entry is committed (with
 * synchronous_commit on, whatever the server's default) before the request it records goes on.
 */
export class PostgresAuditLog implements AuditLog {
  readonly #pool: pg.Pool;
  #closed = false;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  static async open(pool: pg.Pool): Promise<PostgresAuditLog> {
    await migrate(pool, AUDIT_MIGRATIONS);
    return new PostgresAuditLog(pool);
  }

  async append(r: AuditRecord): Promise<number> {
    const { rows } = await this.#pool.query<{ id: number }>({
      name: 'audit.append',
      text: `INSERT INTO audit_log (at, actor, action, call_sid, target, ip, user_agent, method, path, instance, status, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      values: [
        r.at,
        r.actor,
        r.action,
        r.callSid,
        r.target,
        r.ip,
        r.userAgent,
        r.method,
        r.path,
        r.instance,
        r.status,
        r.detail === null ? null : JSON.stringify(r.detail),
      ],
    });
    return rows[0].id;
  }

  async settle(id: number, outcome: AuditOutcome): Promise<void> {
    await this.#pool.query({
      name: 'audit.settle',
      text: `UPDATE audit_log SET status = $2, call_sid = COALESCE(call_sid, $3), detail = COALESCE($4, detail)
             WHERE id = $1 AND status IS NULL`,
      values: [
        id,
        outcome.status,
        outcome.callSid ?? null,
        outcome.detail === undefined ? null : JSON.stringify(outcome.detail),
      ],
    });
  }

  async list(query: AuditQuery): Promise<AuditEntry[]> {
    const { where, values } = auditFilters(query, (n) => `$${n}`);
    const { rows } = await this.#pool.query<AuditRow>({
      text: `SELECT ${AUDIT_COLUMNS} FROM audit_log ${where} ORDER BY id DESC LIMIT $${values.length + 1}`,
      values: [...values, query.limit],
    });
    return rows.map(fromRow);
  }

  async prune(cutoff: number, maxEntries: number): Promise<{ expired: number; overCap: number }> {
    const expired = await this.#inBatches(
      `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT ${AUDIT_PRUNE_BATCH})`,
      cutoff,
    );
    const { rows } = await this.#pool.query<{ id: number }>(
      'SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET $1',
      [maxEntries],
    );
    const overCap = rows[0]
      ? await this.#inBatches(
          `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id <= $1 ORDER BY id LIMIT ${AUDIT_PRUNE_BATCH})`,
          rows[0].id,
        )
      : 0;
    return { expired, overCap };
  }

  async #inBatches(text: string, value: number): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.#closed) return total;
      const n = (await this.#pool.query(text, [value])).rowCount ?? 0;
      total += n;
      if (n < AUDIT_PRUNE_BATCH) return total;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
