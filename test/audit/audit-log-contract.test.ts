import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditLog, AuditRecord } from '../../src/audit/audit-log.js';
import { PostgresAuditLog } from '../../src/audit/postgres-audit-log.js';
import { SqliteAuditLog } from '../../src/audit/sqlite-audit-log.js';
import { PostgresCallStore } from '../../src/calls/postgres-call-store.js';
import { SqliteCallStore } from '../../src/calls/sqlite-call-store.js';
import { openPool } from '../../src/store/postgres.js';
import { hasPostgres, storeContract } from '../helpers/postgres.js';

/* One contract, both audit logs: entries in order, completed once, filtered, paged, bounded, durable. */

const T = Date.UTC(2026, 11, 2, 9);
const DAY = 86_400_000;

function record(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    at: T,
    actor: 'ops',
    action: 'transcript.read',
    callSid: 'CA1',
    target: null,
    ip: '127.0.0.1',
    userAgent: 'curl/8',
    method: 'GET',
    path: '/v1/calls/CA1/transcript',
    instance: 'a',
    status: null,
    detail: null,
    ...overrides,
  };
}

const { kinds, database } = storeContract<AuditLog>(
  'audit',
  (path) => new SqliteAuditLog(path),
  (pool) => PostgresAuditLog.open(pool),
  2,
);

describe.each(kinds)('the %s audit log', (_name, available, place) => {
  const run = available ? it : it.skip;

  run('keeps entries newest first, completes each once, and still has them after a reopen', async () => {
    const open = await place();
    const log = await open();
    const first = await log.append(record());
    const second = await log.append(
      record({ actor: 'admin', action: 'webhook.retry', callSid: null, target: 'delivery:7' }),
    );
    expect(second).toBeGreaterThan(first);
    await log.settle(second, { status: 202, callSid: 'CA9' });
    await log.settle(second, { status: 500 }); // settled already: left as it was
    await log.settle(first, { status: 200, detail: { erased: 3 } });
    await log.close();

    const again = await open();
    expect(await again.list({ limit: 10 })).toEqual([
      {
        ...record({ actor: 'admin', action: 'webhook.retry', target: 'delivery:7' }),
        id: second,
        callSid: 'CA9',
        status: 202,
      },
      { ...record(), id: first, status: 200, detail: { erased: 3 } },
    ]);
    await again.close();
  });

  run('filters by call, actor and action, and pages with `before`', async () => {
    const log = await (await place())();
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        await log.append(
          record({ callSid: i % 2 === 0 ? 'CAeven' : 'CAodd', actor: i < 3 ? 'ops' : 'admin' }),
        ),
      );
    }
    await log.append(record({ action: 'recording.read', callSid: 'CAeven' }));
    const sids = async (q: Parameters<AuditLog['list']>[0]) => (await log.list(q)).map((e) => e.id);
    expect(await sids({ limit: 10, callSid: 'CAodd' })).toEqual([ids[3], ids[1]]);
    expect(await sids({ limit: 10, actor: 'admin' })).toEqual([ids[4], ids[3]]);
    expect(await sids({ limit: 10, action: 'transcript.read', callSid: 'CAeven' })).toEqual([
      ids[4],
      ids[2],
      ids[0],
    ]);
    expect(await sids({ limit: 2, action: 'transcript.read' })).toEqual([ids[4], ids[3]]);
    expect(await sids({ limit: 2, action: 'transcript.read', before: ids[3] })).toEqual([ids[2], ids[1]]);
    expect(await sids({ limit: 10, callSid: 'CAnone' })).toEqual([]);
    await log.close();
  });

  run('is bounded: entries older than the retention go, then the oldest beyond the cap', async () => {
    const log = await (await place())();
    for (let i = 0; i < 3; i++) await log.append(record({ at: T - 40 * DAY + i }));
    const kept: number[] = [];
    for (let i = 0; i < 1_205; i++) kept.push(await log.append(record({ at: T + i })));
    // The cap is reached in more than one batch of deletes (a batch is 1000 rows).
    expect(await log.prune(T - 30 * DAY, 100)).toEqual({ expired: 3, overCap: 1_105 });
    const left = await log.list({ limit: 1000 });
    expect(left.map((e) => e.id)).toEqual(kept.slice(-100).reverse());
    // Nothing more to do: a second prune deletes nothing.
    expect(await log.prune(T - 30 * DAY, 100)).toEqual({ expired: 0, overCap: 0 });
    // Ids are never reused, so a page cursor never points at a newer entry.
    expect(await log.append(record())).toBeGreaterThan(kept.at(-1) as number);
    await log.close();
  });
});

describe('the audit log shares its database with the call records', () => {
  it('SQLite: the same calls.db file, opened side by side', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'voxline-audit-')), 'calls.db');
    const calls = new SqliteCallStore(path);
    const log = new SqliteAuditLog(path);
    await log.append(record());
    expect(await calls.listCalls('all', 10, T)).toEqual([]);
    expect(await log.list({ limit: 1 })).toHaveLength(1);
    await Promise.all([calls.close(), log.close()]);
  });

  it.skipIf(!hasPostgres)(
    'PostgreSQL: its migration and the calls’ go into one migrations table',
    async () => {
      const url = await database();
      const calls = await PostgresCallStore.open(openPool(url, 2));
      const log = await PostgresAuditLog.open(openPool(url, 2));
      const pool = openPool(url, 1);
      const { rows } = await pool.query<{ version: number }>(
        'SELECT version FROM voxline_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.version)).toEqual([2, 4, 5, 10, 11]);
      await Promise.all([calls.close(), log.close(), pool.end()]);
    },
  );
});
