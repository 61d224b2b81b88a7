import { isVoxlineError, VoxlineError } from '../errors.js';
import type { DataKey, Keyring } from './keyring.js';
import { isSealed, openText, placeOf, sealText } from './sealed-text.js';

/** Unwrapped data keys one store keeps at most: every live call's, and recent reads'. */
export const CACHED_KEYS = 4_096;

/** A new data key for a call, and the id of the master key that wrapped it (the key row's key_id). */
export interface FreshKey extends DataKey {
  readonly keyId: string;
}

/**
 * One store's data keys, one per call, and the sealing of its column values under them. A call's
 * key is made at its first sealed write; its wrapped form is a row of the store's key table, in
 * the same database as the rows: the store inserts it with ON CONFLICT DO NOTHING and reads back
 * what is there, so instances writing a call's first rows at once end up with one key. Unwrapped
 * keys are cached (beyond `capacity`, the least recently used goes), so a row costs one AES-GCM
 * pass and no unwrap. Without a keyring nothing new is sealed and clear values read as ever.
 */
export class CallKeys {
  readonly #keyring: Keyring | undefined;
  readonly #purpose: 'call' | 'outbox';
  readonly #capacity: number;
  readonly #cache = new Map<string, Buffer>();

  constructor(keyring: Keyring | undefined, purpose: 'call' | 'outbox', capacity = CACHED_KEYS) {
    this.#keyring = keyring;
    this.#purpose = purpose;
    this.#capacity = capacity;
  }

  /** New values are sealed: ENCRYPTION_KEY is set. */
  get sealing(): boolean {
    return this.#keyring !== undefined;
  }

  /** The call's key if it is cached (it becomes the most recently used). */
  cached(callSid: string): Buffer | undefined {
    const key = this.#cache.get(callSid);
    if (key) {
      this.#cache.delete(callSid);
      this.#cache.set(callSid, key);
    }
    return key;
  }

  /** A new key for a call that may have none yet: the store offers its wrapped form as the key row. */
  fresh(callSid: string): FreshKey {
    const ring = this.#ring(`sealing ${callSid}'s rows`);
    return { ...ring.newDataKey(this.#context(callSid)), keyId: ring.currentId };
  }

  /** The key in the call's key row: `offered`'s own when that row is the one the store inserted. */
  unwrap(callSid: string, wrapped: Uint8Array, offered?: FreshKey): Buffer {
    if (offered?.wrapped.equals(wrapped)) return offered.key;
    try {
      return this.#ring(`opening ${callSid}'s rows`).unwrap(wrapped, this.#context(callSid));
    } catch (err) {
      if (!isVoxlineError(err)) throw err;
      throw new VoxlineError(err.code, `${callSid}'s data key: ${err.message}`, { cause: err });
    }
  }

  remember(callSid: string, key: Buffer): void {
    this.#cache.delete(callSid);
    this.#cache.set(callSid, key);
    if (this.#cache.size > this.#capacity) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
  }

  /** The call was erased or pruned: its key row is gone, and so is its key here. */
  forget(callSid: string): void {
    this.#cache.delete(callSid);
  }

  seal(key: Buffer, table: string, callSid: string, row: string | number, clear: string): string {
    return sealText(key, clear, placeOf(table, callSid, row));
  }

  /** Opening `stored` needs the call's key row: it is sealed, and its key is not cached. */
  needsKeyRow(callSid: string, stored: string): boolean {
    return isSealed(stored) && !this.#cache.has(callSid);
  }

  /**
   * `stored` as the store read it from `table`'s `row` of the call: clear as it is; sealed, opened
   * with the call's key, cached or else unwrapped from `wrapped` (its key row) and cached.
   * VL_ERR_ENCRYPTION_KEY without the master key that wrapped it; VL_ERR_DECRYPTION when there is
   * no key row (the call was erased) or the value does not open there (changed, or moved).
   */
  open(
    stored: string,
    table: string,
    callSid: string,
    row: string | number,
    wrapped?: Uint8Array | null,
  ): string {
    if (!isSealed(stored)) return stored;
    const what = `${callSid}'s ${table} row ${row}`;
    let key = this.cached(callSid);
    if (!key) {
      this.#ring(`reading ${what}`);
      if (!wrapped) throw new VoxlineError('VL_ERR_DECRYPTION', `${what}: the call has no data key`);
      key = this.unwrap(callSid, wrapped);
      this.remember(callSid, key);
    }
    return openText(key, stored, placeOf(table, callSid, row), what);
  }

  #ring(doing: string): Keyring {
    if (!this.#keyring)
      throw new VoxlineError(
        'VL_ERR_ENCRYPTION_KEY',
        `${doing}: it is encrypted and ENCRYPTION_KEY is not set`,
      );
    return this.#keyring;
  }

  #context(callSid: string): string {
    return `${this.#purpose}:${callSid}`;
  }
}
