import { randomBytes } from 'node:crypto';
import { encryptionConfigFrom } from '../../../src/crypto/encryption-config.js';
import { Keyring } from '../../../src/crypto/keyring.js';

/** An ENCRYPTION_KEY value: `id:` and 32 random bytes in base64 (what npm run key:new prints). */
export const keyValue = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

/** A keyring as the server builds it from ENCRYPTION_KEY and ENCRYPTION_RETIRED_KEYS. */
export function keyringOf(current: string, ...retired: string[]): Keyring {
  const { value, problems } = encryptionConfigFrom({
    ENCRYPTION_KEY: current,
    ...(retired.length > 0 ? { ENCRYPTION_RETIRED_KEYS: retired.join(',') } : {}),
  });
  if (!value || problems.length > 0) throw new Error(`bad test key: ${problems.join('; ')}`);
  return new Keyring(value);
}
