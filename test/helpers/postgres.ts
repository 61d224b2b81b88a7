import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openPool } from '../../src/store/postgres.js';

/**
 * A throwaway PostgreSQL server for tests (Debian `postgresql`, installed by .ci/run): `initdb` and
 * `pg_ctl` on a temporary directory, listening on a Unix socket in that directory only (no TCP
 * port to race for). PostgreSQL refuses to run as root, so as root it runs as the `postgres` user
 * (or `nobody`). fsync is off: these tests kill voxline, never the machine.
 */
export interface TestPostgres {
  /** A fresh, empty database on the server; its connection URL. */
  database(): Promise<string>;
  stop(): Promise<void>;
}

/** The directory holding initdb and pg_ctl, or undefined when PostgreSQL is not installed. */
export function postgresBin(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export const hasPostgres = postgresBin() !== undefined;

if (!hasPostgres && process.env.VOXLINE_REQUIRE_POSTGRES) {
  throw new Error(
    'VOXLINE_REQUIRE_POSTGRES is set but initdb/pg_ctl were not found (apt-get install postgresql)',
  );
}

/** Who the server runs as: ourselves, or as root an unprivileged account. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
      return { uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('running as root with neither a postgres nor a nobody user to run PostgreSQL as');
}

function run(bin: string, args: string[], as: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      ...(as ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' },
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')} exited ${code}:\n${output}`)),
    );
  });
}

/** `fsync: true` for benchmarks, where durable commits are what is measured. */
export async function startPostgres(options: { fsync?: boolean } = {}): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (initdb/pg_ctl not found)');
  const as = runAs();
  const dir = mkdtempSync('/tmp/voxline-pg-');
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  const superuser = as ? 'voxline' : userInfo().username;
  await run(join(bin, 'initdb'), ['-D', data, '-U', superuser, '-A', 'trust', '-E', 'UTF8', '--no-sync'], as);
  const serverOptions = `-k ${dir} -c listen_addresses='' -c fsync=${options.fsync ? 'on' : 'off'} -c max_connections=100 -c shared_buffers=32MB`;
  await run(
    join(bin, 'pg_ctl'),
    ['-D', data, '-o', serverOptions, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'],
    as,
  );
  const url = (db: string) => `postgres://${superuser}@/${db}?host=${encodeURIComponent(dir)}`;
  let databases = 0;
  return {
    async database() {
      const name = `voxline_${++databases}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], as).catch(
        () => undefined,
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A store contract's places: a fresh SQLite file, and a fresh database on this file's server. */
export type StoreKind<T> = [name: string, available: boolean, place: () => Promise<() => Promise<T>>];

/**
 * Starts one PostgreSQL server for the test file (where one is installed) and gives the two
 * places a store contract runs on, plus `database()` for tests of their own on that server.
 * Call it at the top of the file: it registers the server's beforeAll and afterAll.
 */
export function storeContract<T>(
  prefix: string,
  sqlite: (path: string) => T | Promise<T>,
  postgres: (pool: pg.Pool) => Promise<T>,
  poolSize: number,
): { kinds: StoreKind<T>[]; database: () => Promise<string> } {
  let server: TestPostgres | undefined;
  beforeAll(async () => {
    if (hasPostgres) server = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });
  const database = () => (server as TestPostgres).database();
  return {
    database,
    kinds: [
      [
        'SQLite',
        true,
        async () => {
          const path = join(mkdtempSync(join(tmpdir(), `voxline-${prefix}-`)), 'calls.db');
          return async () => sqlite(path);
        },
      ],
      [
        'PostgreSQL',
        hasPostgres,
        async () => {
          const url = await database();
          return () => postgres(openPool(url, poolSize));
        },
      ],
    ],
  };
}
