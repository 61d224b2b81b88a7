import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { AuditLog } from './audit-log.js';
import { SqliteAuditLog } from './sqlite-audit-log.js';

/** Where the call records are: PostgreSQL when DATABASE_URL is set (imported only then), else DATA_DIR/calls.db. */
export async function openAuditLog(config: Config): Promise<AuditLog> {
  if (!config.database) {
    mkdirSync(config.dataDir, { recursive: true });
    return new SqliteAuditLog(join(config.dataDir, 'calls.db'));
  }
  const [{ openOnPostgres }, { PostgresAuditLog }] = await Promise.all([
    import('../store/postgres.js'),
    import('./postgres-audit-log.js'),
  ]);
  return openOnPostgres(config.database.url, 'the audit log', (pool) => PostgresAuditLog.open(pool), {
    synchronousCommit: 'on',
  });
}
