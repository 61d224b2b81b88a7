import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { openPool } from '../../src/store/postgres.js';

export { keyringOf, keyValue } from '../crypto/support/keys.js';

/** A store's database read and changed behind its back, as an operator (or a copy of it) would. */
export interface RawDatabase {
  query(sql: string, ...params: unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, ...params: unknown[]): Promise<void>;
  /** What the database holds, as text: SQLite, every byte of its file and WAL; PostgreSQL, each of `tables`' rows. */
  text(tables: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * SQLite: `path` and its -wal, opened per statement (the store keeps its own connection). SQL is
 * written for both, with PostgreSQL's $1, $2… (here each in order, once).
 */
export function rawSqlite(path: string): RawDatabase {
  const withDb = <T>(f: (db: Database.Database) => T): T => {
    const db = new Database(path);
    try {
      return f(db);
    } finally {
      db.close();
    }
  };
  const prepare = (db: Database.Database, sql: string) => db.prepare(sql.replace(/\$\d+/g, '?'));
  return {
    async query(sql, ...params) {
      return withDb((db) => prepare(db, sql).all(...params) as Record<string, unknown>[]);
    },
    async run(sql, ...params) {
      withDb((db) => prepare(db, sql).run(...params));
    },
    async text() {
      return [path, `${path}-wal`]
        .filter((file) => existsSync(file))
        .map((file) => readFileSync(file).toString('latin1'))
        .join('\n');
    },
    async close() {},
  };
}

/** PostgreSQL: its rows read with SQL, each as text (`SELECT r::text FROM table r`). */
export function rawPostgres(url: string): RawDatabase {
  const pool: pg.Pool = openPool(url, 2);
  return {
    async query(sql, ...params) {
      return (await pool.query(sql, params)).rows;
    },
    async run(sql, ...params) {
      await pool.query(sql, params);
    },
    async text(tables) {
      const rows = await Promise.all(
        tables.map((t) => pool.query<{ row: string }>(`SELECT r::text AS row FROM ${t} r`)),
      );
      return rows.flatMap((r) => r.rows.map((x) => x.row)).join('\n');
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * Resolves once another session waits on a row lock of this database (the other side of a race
 * a test holds open): each poll is a query, no timer.
 */
export async function someoneWaitsOnALock(raw: RawDatabase): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    const [row] = await raw.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if ((row?.n as number) > 0) return;
  }
  throw new Error('nobody came to wait on the lock');
}
