import pg from 'pg';
import { VoxlineError } from '../errors.js';

/** One schema change; versions only grow, and an applied one is never edited. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Any number that two voxline versions agree on: the advisory lock migrations run under. */
const MIGRATION_LOCK = 0x766f786c; // "voxl"

// BIGINT (int8) columns hold ms timestamps and ids, all well within 2^53: read them as numbers.
const types = new pg.TypeOverrides();
types.setTypeParser(20, (value: string) => Number(value));

/** How a pool's sessions start: `synchronousCommit: 'off'` for work that a redo makes good again. */
export interface PoolSettings {
  readonly synchronousCommit?: 'on' | 'off';
}

/** A pool on `url` (postgres://user:password@host:port/db, or ?host=/socket/dir). */
export function openPool(url: string, max = 10, settings: PoolSettings = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    types,
    application_name: 'voxline',
    // Session settings sent at connect (libpq's options): every connection of the pool has them.
    ...(settings.synchronousCommit ? { options: `-c synchronous_commit=${settings.synchronousCommit}` } : {}),
  });
  // An idle client whose server went away emits here; without a listener that would end the process.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Applies the migrations not applied yet, each in its own transaction, under a session advisory
 * lock: instances starting at once take turns, and the later ones find nothing left to do.
 */
export async function migrate(pool: pg.Pool, migrations: readonly Migration[]): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS voxline_migrations (
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM voxline_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO voxline_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(m.version);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/**
 * A pool on `url` handed to `open` (which migrates and builds a store on it); a server that cannot
 * be reached or migrated is one VL_ERR_DATABASE naming `what`, and the pool is closed again.
 */
export async function openOnPostgres<T>(
  url: string,
  what: string,
  open: (pool: pg.Pool) => Promise<T>,
  settings: PoolSettings = {},
): Promise<T> {
  const pool = openPool(url, 10, settings);
  try {
    return await open(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new VoxlineError(
      'VL_ERR_DATABASE',
      `cannot open ${what} in PostgreSQL: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
