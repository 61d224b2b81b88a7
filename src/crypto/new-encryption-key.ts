/**
 * npm run key:new -- [id]: prints a new ENCRYPTION_KEY value (an id and 32 random bytes). To
 * rotate: the old value moves to ENCRYPTION_RETIRED_KEYS, the new one becomes ENCRYPTION_KEY.
 */

import { randomBytes } from 'node:crypto';
import { encryptionConfigFrom, MASTER_KEY_BYTES } from './encryption-config.js';

const id = process.argv[2] ?? `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
const value = `${id}:${randomBytes(MASTER_KEY_BYTES).toString('base64')}`;
const { problems } = encryptionConfigFrom({ ENCRYPTION_KEY: value });
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\nusage: npm run key:new -- [id]\n`);
  process.exit(2);
}
process.stdout.write(
  `ENCRYPTION_KEY=${value}\n# keep it secret and backed up: what it seals cannot be read without it\n`,
);
