import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * Telnyx webhook signatures (https://developers.telnyx.com/api-reference/callbacks/texml-stream:
 * "Ed25519 signature of timestamp|payload"; team-telnyx/telnyx-python telnyx/webhook.py): Ed25519
 * over `${telnyx-timestamp}|${raw body}`, the signature base64 in `telnyx-signature-ed25519`, the
 * timestamp in Unix seconds. The public key is
 * the portal's, 32 raw bytes in base64. Verified with node:crypto; nothing is parsed before it.
 */

export type SignatureFailure = 'missing_headers' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature';

/** Imports the portal's base64 key (32 bytes) as an Ed25519 public key. Throws on a bad key. */
export function telnyxPublicKey(base64: string): KeyObject {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32) throw new RangeError(`an Ed25519 public key is 32 bytes (got ${raw.length})`);
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

export interface SignedRequest {
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  readonly body: Buffer;
}

/**
 * Undefined when the request is Telnyx's and fresh; else why not. `nowMs`: wall clock; a
 * timestamp further than `toleranceS` either side of it is refused (replays, skewed clocks).
 */
export function checkTelnyxSignature(
  key: KeyObject,
  request: SignedRequest,
  nowMs: number,
  toleranceS: number,
): SignatureFailure | undefined {
  const { signature, timestamp, body } = request;
  if (!signature || !timestamp) return 'missing_headers';
  if (!/^[0-9]{1,12}$/.test(timestamp)) return 'bad_timestamp';
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceS) return 'stale_timestamp';
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64) return 'bad_signature';
  const signed = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]);
  return verify(null, signed, key, bytes) ? undefined : 'bad_signature';
}
