import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Keyring } from '../crypto/keyring.js';
import type { CallStore } from './call-store.js';
import { SqliteCallStore } from './sqlite-call-store.js';

/**
 * PostgreSQL when DATABASE_URL is set (its code imported only then), else DATA_DIR/calls.db.
 * With `keyring` (ENCRYPTION_KEY), what callers said is sealed at rest.
 */
export async function openCallStore(config: Config, keyring?: Keyring): Promise<CallStore> {
  if (!config.database) {
    mkdirSync(config.dataDir, { recursive: true });
    return new SqliteCallStore(join(config.dataDir, 'calls.db'), keyring);
  }
  const [{ openOnPostgres }, { PostgresCallStore }] = await Promise.all([
    import('../store/postgres.js'),
    import('./postgres-call-store.js'),
  ]);
  return openOnPostgres(config.database.url, 'the call records', (pool) =>
    PostgresCallStore.open(pool, keyring),
  );
}
