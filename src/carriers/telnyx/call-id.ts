import { createHash } from 'node:crypto';

/** What voxline takes as a call id everywhere (file names, URLs): see src/recording/recordings.ts. */
const PLAIN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * voxline's callSid for a Telnyx call_control_id. Telnyx's ids carry a version prefix with a
 * colon (`v3:T02ll…`), which no file name or path segment should, so each character outside
 * [A-Za-z0-9_-] becomes `_` (`v3_T02ll…`); an id still longer than 64 becomes `tx_` and a hash.
 * The original id is kept in the call's parameters (`telnyxCallControlId`) for Telnyx's API.
 */
export function telnyxCallSid(callControlId: string): string {
  const plain = callControlId.replace(/[^A-Za-z0-9_-]/g, '_');
  if (PLAIN.test(plain)) return plain;
  return `tx_${createHash('sha256').update(callControlId).digest('base64url').slice(0, 43)}`;
}
