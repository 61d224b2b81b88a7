import { open, seal } from './sealed-box.js';

/**
 * A sealed text column: `vx1:` and the sealed box in base64. The stores' clear values are JSON,
 * which never starts so: rows written before ENCRYPTION_KEY was set read as they are, beside
 * sealed ones. A later format gets a new prefix.
 */
const PREFIX = 'vx1:';

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export function sealText(key: Buffer, clear: string, aad: Uint8Array): string {
  return PREFIX + seal(key, Buffer.from(clear), aad).toString('base64');
}

/** VL_ERR_DECRYPTION when it does not authenticate: a wrong key, a changed byte, or the wrong place. */
export function openText(key: Buffer, stored: string, aad: Uint8Array, what: string): string {
  return open(key, Buffer.from(stored.slice(PREFIX.length), 'base64'), aad, what).toString();
}

/**
 * Where a sealed value belongs: its table (and column), its call and its row there (a seq, an
 * event id). Bound into the seal as AAD, so a value copied to another row, call or table does not
 * open. JSON, so that no call sid can be made to read as another place.
 */
export function placeOf(table: string, callSid: string, row: string | number): Buffer {
  return Buffer.from(JSON.stringify(['voxline row', table, callSid, String(row)]));
}
