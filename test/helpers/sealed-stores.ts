import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import type { Keyring } from '../../src/crypto/keyring.js';
import { openPool } from '../../src/store/postgres.js';
import { keyValue } from '../crypto/support/keys.js';
import { hasPostgres, storeContract } from './postgres.js';

export { keyringOf, keyValue } from '../crypto/support/keys.js';

/** The sealed-store tests' "now" (2 December 2026, 09:00 UTC). */
export const T = Date.UTC(2026, 11, 2, 9);
/** What callers said: none of its longer words may be found on disk. */
export const WORDS = 'the marmalade ships from penzance at noon';
/** Two ENCRYPTION_KEY values (each test file its own random pair). */
export const K1 = keyValue('k1');
export const K2 = keyValue('k2');

/** The code of the error `promise` rejects with (its text where it has none), or undefined if it resolves. */
export async function code(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (err: { code?: string }) => err.code ?? String(err),
  );
}

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

/** A store that can be closed: what a place opens. */
interface Closable {
  close(): Promise<void>;
}

/**
 * One database of a sealed-store test, fresh for each test: stores opened on it with this keyring
 * or that (as voxline restarted with other ENCRYPTION_KEY settings), and `raw`, the database read
 * and changed behind their backs.
 */
export interface SealedPlace<S extends Closable> {
  readonly raw: RawDatabase;
  /** A store on the database, with `keyring` (none: as without ENCRYPTION_KEY); done() closes it if reopen() has not. */
  open(keyring?: Keyring): Promise<S>;
  /**
   * Closes the store opened last, runs `meanwhile` (what is done to the database while that store
   * is shut), and opens the database again with `keyring` (none: as without ENCRYPTION_KEY).
   */
  reopen(keyring?: Keyring, meanwhile?: () => Promise<void>): Promise<S>;
  /** Closes the stores still open, then `raw`. */
  done(): Promise<void>;
}

/** A sealed-store test's places: its name, whether it runs here, and a fresh database. */
export type SealedPlaces<S extends Closable> = [
  name: string,
  available: boolean,
  place: () => Promise<SealedPlace<S>>,
][];

const POOL_SIZE = 4;

/**
 * The places a sealed store is tested on: a fresh SQLite file (`voxline-${prefix}-…`), and a
 * fresh database on a PostgreSQL server started for the test file (where one is installed), plus
 * `database()` for tests of their own on that server. Call it at the top of the file: it
 * registers the server's beforeAll and afterAll (storeContract's).
 */
export function sealedPlaces<S extends Closable>(
  prefix: string,
  sqlite: (path: string, keyring?: Keyring) => S,
  postgres: (pool: pg.Pool, keyring?: Keyring) => Promise<S>,
): { places: SealedPlaces<S>; database: () => Promise<string> } {
  // The server's lifecycle is the store contracts' (their own places open no keyring).
  const { database } = storeContract(prefix, sqlite, postgres, POOL_SIZE);
  return {
    database,
    places: [
      [
        'SQLite',
        true,
        async () => {
          const path = join(mkdtempSync(join(tmpdir(), `voxline-${prefix}-`)), 'voxline.db');
          return sealedPlace(async (keyring) => sqlite(path, keyring), rawSqlite(path));
        },
      ],
      [
        'PostgreSQL',
        hasPostgres,
        async () => {
          const url = await database();
          return sealedPlace((keyring) => postgres(openPool(url, POOL_SIZE), keyring), rawPostgres(url));
        },
      ],
    ],
  };
}

function sealedPlace<S extends Closable>(
  opener: (keyring?: Keyring) => Promise<S>,
  raw: RawDatabase,
): SealedPlace<S> {
  const open: S[] = [];
  const place: SealedPlace<S> = {
    raw,
    async open(keyring) {
      const store = await opener(keyring);
      open.push(store);
      return store;
    },
    async reopen(keyring, meanwhile) {
      await open.pop()?.close();
      await meanwhile?.();
      return place.open(keyring);
    },
    async done() {
      for (const store of open.splice(0)) await store.close();
      await raw.close();
    },
  };
  return place;
}

/**
 * A race for a call's key row that `write` loses on PostgreSQL: another session inserts the row
 * of `callSid` into `table` (a data key for `context`, wrapped under `keyring`), holds it
 * uncommitted until `write` (started then) waits on its lock, and commits. Resolves once `write`
 * has: with what it returned, the winner's wrapped key, and the one the table holds after.
 */
export async function loseTheKeyRace<R>(
  url: string,
  race: { table: 'call_keys' | 'outbox_keys'; keyring: Keyring; context: string; callSid: string },
  write: () => Promise<R>,
): Promise<{ result: R; won: Buffer; kept: Buffer }> {
  const { table, keyring, context, callSid } = race;
  const raw = rawPostgres(url);
  const winner = openPool(url, 1);
  try {
    const client = await winner.connect();
    try {
      await client.query('BEGIN');
      const won = keyring.newDataKey(context);
      await client.query(`INSERT INTO ${table} (call_sid, key_id, wrapped) VALUES ($1, $2, $3)`, [
        callSid,
        keyring.currentId,
        won.wrapped,
      ]);
      const writing = write();
      await someoneWaitsOnALock(raw);
      await client.query('COMMIT');
      const result = await writing;
      const [row] = await raw.query(`SELECT wrapped FROM ${table} WHERE call_sid = $1`, callSid);
      return { result, won: won.wrapped, kept: row?.wrapped as Buffer };
    } finally {
      client.release();
    }
  } finally {
    await winner.end();
    await raw.close();
  }
}
