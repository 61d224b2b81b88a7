import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { VoxlineError } from '../errors.js';
import type { CallStore } from './call-store.js';
import { SqliteCallStore } from './sqlite-call-store.js';

/** PostgreSQL when DATABASE_URL is set (its code imported only then), else DATA_DIR/calls.db. */
export async function openCallStore(config: Config): Promise<CallStore> {
  if (!config.database) {
    mkdirSync(config.dataDir, { recursive: true });
    return new SqliteCallStore(join(config.dataDir, 'calls.db'));
  }
  const [{ openPool }, { PostgresCallStore }] = await Promise.all([
    import('../store/postgres.js'),
    import('./postgres-call-store.js'),
  ]);
  const pool = openPool(config.database.url);
  try {
    return await PostgresCallStore.open(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new VoxlineError(
      'VL_ERR_DATABASE',
      `cannot open the call records in PostgreSQL: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
