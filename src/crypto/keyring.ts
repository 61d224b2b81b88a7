import { randomBytes } from 'node:crypto';
import { VoxlineError } from '../errors.js';
import type { EncryptionConfig, MasterKeySpec } from './encryption-config.js';
import { open, seal } from './sealed-box.js';

export const DATA_KEY_BYTES = 32;
/** Wrapped data key: version ‖ id length ‖ id ‖ sealed key. */
const WRAP_VERSION = 1;

/** A fresh data key and the form of it that is stored (wrapped under the current master key). */
export interface DataKey {
  readonly key: Buffer;
  readonly wrapped: Buffer;
}

/**
 * The master keys from config. Each file or call gets its own random data key, and only that key,
 * wrapped, is stored beside the data; the wrapping records the master key's id, so a rotated key
 * (now retired) still unwraps what it wrapped. `context` (a call sid, a file's purpose) is bound
 * into the wrapping: a wrapped key copied to another call does not unwrap.
 */
export class Keyring {
  readonly #keys = new Map<string, Buffer>();
  readonly currentId: string;

  constructor(config: EncryptionConfig) {
    const add = (spec: MasterKeySpec) => this.#keys.set(spec.id, Buffer.from(spec.base64, 'base64'));
    add(config.current);
    for (const spec of config.retired) add(spec);
    this.currentId = config.current.id;
  }

  newDataKey(context: string): DataKey {
    const key = randomBytes(DATA_KEY_BYTES);
    return { key, wrapped: this.wrap(key, context) };
  }

  wrap(key: Buffer, context: string): Buffer {
    const id = Buffer.from(this.currentId, 'ascii');
    const head = Buffer.from([WRAP_VERSION, id.length]);
    const master = this.#keys.get(this.currentId) as Buffer;
    return Buffer.concat([head, id, seal(master, key, aadOf(id, context))]);
  }

  /** The data key inside `wrapped`: VL_ERR_ENCRYPTION_KEY for an unknown master key id, VL_ERR_DECRYPTION if it does not open. */
  unwrap(wrapped: Uint8Array, context: string): Buffer {
    const id = Keyring.keyIdOf(wrapped);
    const master = this.#keys.get(id);
    if (!master)
      throw new VoxlineError(
        'VL_ERR_ENCRYPTION_KEY',
        `no master key ${JSON.stringify(id)} (add it to ENCRYPTION_RETIRED_KEYS)`,
      );
    const body = wrapped.subarray(2 + id.length);
    const key = open(master, body, aadOf(Buffer.from(id, 'ascii'), context), 'the wrapped data key');
    if (key.length !== DATA_KEY_BYTES)
      throw new VoxlineError('VL_ERR_DECRYPTION', 'the data key has the wrong size');
    return key;
  }

  /** The id of the master key that wrapped `wrapped` (VL_ERR_DECRYPTION if it is not a wrapped key). */
  static keyIdOf(wrapped: Uint8Array): string {
    if (wrapped.length < 3 || wrapped[0] !== WRAP_VERSION || wrapped.length < 2 + (wrapped[1] ?? 0))
      throw new VoxlineError('VL_ERR_DECRYPTION', 'not a wrapped data key');
    return Buffer.from(wrapped.subarray(2, 2 + (wrapped[1] as number))).toString('ascii');
  }
}

function aadOf(id: Buffer, context: string): Buffer {
  return Buffer.concat([Buffer.from('voxline data key\0'), id, Buffer.from(`\0${context}`)]);
}
