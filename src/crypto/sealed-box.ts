import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VoxlineError } from '../errors.js';

/** AES-256-GCM with a random 96-bit nonce: `nonce ‖ ciphertext ‖ tag`. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Seals `plaintext` under a 32-byte key. `aad` binds the box to where it belongs (a call, a row,
 * a segment's place): the same bytes moved elsewhere do not open.
 */
export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens what `seal` made; a wrong key, `aad` or any changed byte is VL_ERR_DECRYPTION. */
export function open(key: Buffer, sealed: Uint8Array, aad: Uint8Array, what = 'sealed data'): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new VoxlineError('VL_ERR_DECRYPTION', `${what} is too short`);
  const box = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, box.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(box.subarray(box.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(box.subarray(NONCE_BYTES, box.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (err) {
    throw new VoxlineError('VL_ERR_DECRYPTION', `${what} did not authenticate (wrong key, or changed)`, {
      cause: err,
    });
  }
}
