import { Type } from '@sinclair/typebox';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';

/** One master key: its id (recorded beside everything it wraps) and its 32 bytes, base64. */
export interface MasterKeySpec {
  readonly id: string;
  readonly base64: string;
}

/**
 * Encryption at rest (ENCRYPTION_KEY): what new recordings and stored transcripts are sealed
 * under, and retired keys that are only read. Undefined when ENCRYPTION_KEY is not set. The key
 * bytes stay base64 here (the config is frozen, a Buffer cannot be); `Keyring` decodes them.
 */
export interface EncryptionConfig {
  readonly current: MasterKeySpec;
  /** Read-only keys: data sealed before a rotation still opens. */
  readonly retired: readonly MasterKeySpec[];
}

const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
export const MASTER_KEY_BYTES = 32;

export const EncryptionEnvProperties = {
  ENCRYPTION_KEY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'id:base64 of 32 random bytes (npm run key:new): recordings and stored transcripts are encrypted at rest (AES-256-GCM) under data keys it wraps; unset: stored in clear',
    }),
  ),
  ENCRYPTION_RETIRED_KEYS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'comma list of earlier ENCRYPTION_KEY values (id:base64), kept to read what they sealed after a rotation',
    }),
  ),
};

interface EncryptionEnv {
  ENCRYPTION_KEY?: string;
  ENCRYPTION_RETIRED_KEYS?: string;
}

export function encryptionConfigFrom(e: EncryptionEnv): ConfigPart<EncryptionConfig | undefined> {
  const problems: string[] = [];
  const current = e.ENCRYPTION_KEY === undefined ? undefined : parseKey('ENCRYPTION_KEY', e.ENCRYPTION_KEY);
  if (typeof current === 'string') problems.push(current);
  const retired: MasterKeySpec[] = [];
  const ids = new Set<string>(current && typeof current !== 'string' ? [current.id] : []);
  for (const entry of commaList(e.ENCRYPTION_RETIRED_KEYS ?? '')) {
    const key = parseKey('ENCRYPTION_RETIRED_KEYS', entry);
    if (typeof key === 'string') problems.push(key);
    else if (ids.has(key.id))
      problems.push(`ENCRYPTION_RETIRED_KEYS: key id ${JSON.stringify(key.id)} is given twice`);
    else {
      ids.add(key.id);
      retired.push(key);
    }
  }
  if (current === undefined && retired.length > 0)
    problems.push('ENCRYPTION_RETIRED_KEYS is set without ENCRYPTION_KEY: set the current key too');
  const value = current && typeof current !== 'string' ? { current, retired } : undefined;
  return { value, problems, warnings: [] };
}

/** A key, or what is wrong with it (never showing the key's bytes). */
function parseKey(name: string, entry: string): MasterKeySpec | string {
  const colon = entry.indexOf(':');
  const id = colon < 0 ? '' : entry.slice(0, colon);
  const base64 = colon < 0 ? entry : entry.slice(colon + 1);
  if (!KEY_ID.test(id))
    return `${name}: expected id:base64, the id 1–32 letters, digits, . _ or - (npm run key:new makes one)`;
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(base64) ? Buffer.from(base64, 'base64') : Buffer.alloc(0);
  if (bytes.length !== MASTER_KEY_BYTES)
    return `${name}: key ${JSON.stringify(id)} must be ${MASTER_KEY_BYTES} bytes in base64 (got ${bytes.length} bytes; value not shown)`;
  return { id, base64 };
}
