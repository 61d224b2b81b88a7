/**
 * Every error voxline raises on purpose has a stable code. HTTP-facing ones carry a status;
 * `retryable` says whether trying the same thing again can succeed. Every code is listed in
 * docs/errors.md (test/errors.test.ts keeps the two in step).
 */

export const ERRORS = {
  VL_ERR_CONFIG: { status: 500, retryable: false, message: 'invalid configuration' },
  VL_ERR_DATABASE: { status: 503, retryable: true, message: 'the database cannot be used' },
  VL_ERR_BAD_REQUEST: { status: 400, retryable: false, message: 'bad request' },
  VL_ERR_TWILIO_NOT_CONFIGURED: {
    status: 403,
    retryable: false,
    message: 'TWILIO_AUTH_TOKEN is not set, so Twilio traffic is refused (set it, or TWILIO_VALIDATE=false)',
  },
  VL_ERR_TWILIO_SIGNATURE: {
    status: 403,
    retryable: false,
    message: 'missing or invalid X-Twilio-Signature',
  },
  VL_ERR_CARRIER_SIGNATURE: {
    status: 403,
    retryable: false,
    message: 'missing or invalid carrier signature or stream token',
  },
  VL_ERR_UNAUTHORIZED: { status: 401, retryable: false, message: 'missing or invalid bearer token' },
  VL_ERR_FORBIDDEN: {
    status: 403,
    retryable: false,
    message: 'this token does not have the scope the route needs',
  },
  VL_ERR_AUDIT_UNAVAILABLE: {
    status: 503,
    retryable: true,
    message: 'the audit log could not be written, so nothing was read or changed',
  },
  VL_ERR_NOT_FOUND: { status: 404, retryable: false, message: 'no such file' },
  VL_ERR_CALL_NOT_FOUND: { status: 404, retryable: false, message: 'no such call' },
  VL_ERR_DRAINING: { status: 503, retryable: true, message: 'shutting down: not accepting new calls' },
  VL_ERR_CAPACITY: { status: 503, retryable: true, message: 'too many live calls' },
  VL_ERR_OVERLOADED: {
    status: 503,
    retryable: true,
    message: 'overloaded: no new calls until the load falls (live calls go on)',
  },
  VL_ERR_DUPLICATE_CALL: { status: 409, retryable: false, message: 'a stream for this call is already live' },
  VL_ERR_OUTBOUND_BACKPRESSURE: {
    status: 503,
    retryable: true,
    message: 'the carrier socket is not draining: outbound audio refused',
  },
  VL_ERR_CALL_ENDED: { status: 409, retryable: false, message: 'the call has ended' },
  VL_ERR_CALL_LIVE: {
    status: 409,
    retryable: true,
    message:
      'the call is live, or its recording and transcript are still being finished: erase it once it has ended',
  },
  VL_ERR_CALL_ELSEWHERE: {
    status: 409,
    retryable: false,
    message:
      'another instance took this call and still holds it in memory: send the request to that one (or, if it is gone for good, add ?force=true)',
  },
  VL_ERR_DELIVERY_NOT_FOUND: { status: 404, retryable: false, message: 'no such webhook delivery' },
  VL_ERR_DELIVERY_NOT_FAILED: {
    status: 409,
    retryable: false,
    message: 'only a failed (dead-lettered) delivery can be retried',
  },
  VL_ERR_RECORDING_NOT_FOUND: { status: 404, retryable: false, message: 'no recording for this call' },
  VL_ERR_RECORDING_NOT_READY: {
    status: 409,
    retryable: true,
    message: 'the call is still live, or its recording still being finished: it is served once complete',
  },
  VL_ERR_RECORDING_ELSEWHERE: {
    status: 409,
    retryable: false,
    message:
      'the recording is on the disk of the instance that took the call: ask that one, or set RECORDING_STORE=s3://… so that every instance serves it',
  },
  VL_ERR_RECORDING_STORE: {
    status: 502,
    retryable: true,
    message: 'the recording store (S3) failed or could not be reached',
  },
  VL_ERR_ENCRYPTION_KEY: {
    status: 500,
    retryable: false,
    message:
      'the master key that sealed this data is not configured (ENCRYPTION_KEY, ENCRYPTION_RETIRED_KEYS)',
  },
  VL_ERR_DECRYPTION: {
    status: 500,
    retryable: false,
    message: 'encrypted data did not authenticate: a wrong key, or the bytes were changed',
  },
  VL_ERR_SEALED_TRUNCATED: {
    status: 500,
    retryable: false,
    message:
      'an encrypted file ends before its last segment: it was cut short (a crash while writing, or a partial copy)',
  },
  VL_ERR_MODEL_UNAVAILABLE: {
    status: 503,
    retryable: true,
    message: 'the local speech model could not be loaded (not downloaded, no network, or a wrong path)',
  },
  VL_ERR_TTS_FAILED: { status: 502, retryable: true, message: 'speech synthesis failed' },
  VL_ERR_TTS_OVERLOADED: {
    status: 503,
    retryable: true,
    message: 'speech synthesis is saturated: too many sentences waiting',
  },
  VL_ERR_LLM_FAILED: { status: 502, retryable: true, message: 'the language model request failed' },
  VL_ERR_AGENT_WEBHOOK_FAILED: { status: 502, retryable: true, message: 'the agent webhook failed' },
  VL_ERR_TOOL_FAILED: { status: 502, retryable: true, message: 'an agent tool failed' },
  VL_ERR_CALL_CONTROL_FAILED: {
    status: 502,
    retryable: true,
    message: 'the carrier refused or failed a call update (hang-up, transfer)',
  },
  VL_ERR_DIALER_NOT_CONFIGURED: {
    status: 409,
    retryable: false,
    message: 'outbound calls over this carrier are not configured on this instance',
  },
  VL_ERR_DIAL_LIMIT: {
    status: 429,
    retryable: true,
    message: 'too many outbound attempts over this carrier: try again after Retry-After',
  },
  VL_ERR_DIAL_REJECTED: {
    status: 502,
    retryable: false,
    message: 'the carrier refused to place the call (number, caller id, account or request)',
  },
  VL_ERR_DIAL_FAILED: {
    status: 502,
    retryable: true,
    message: 'the carrier could not be asked to place the call (unreachable, timed out or failing)',
  },
  VL_ERR_DIAL_NOT_FOUND: { status: 404, retryable: false, message: 'no such outbound attempt' },
  VL_ERR_BATCH_ENGINE: {
    status: 502,
    retryable: true,
    message: 'the post-call transcription engine failed or answered something other than a transcription',
  },
  VL_ERR_BATCH_REJECTED: {
    status: 502,
    retryable: false,
    message: 'the post-call transcription engine refused the request (bad key, model or audio)',
  },
  VL_ERR_ANALYSIS_FAILED: {
    status: 502,
    retryable: true,
    message: 'the call analysis model failed or answered something that does not match its schema',
  },
  VL_ERR_ANALYSIS_REJECTED: {
    status: 502,
    retryable: false,
    message: 'the call analysis model refused the request (bad key, model or schema)',
  },
  VL_ERR_TRANSCRIPT_NOT_READY: {
    status: 404,
    retryable: true,
    message: 'that version of the transcript is not ready (the refined transcript comes after the recording)',
  },
  VL_ERR_ANALYSIS_NOT_READY: {
    status: 404,
    retryable: true,
    message: 'the call has no analysis yet (it comes after the call, with ANALYSIS_LLM_BASE_URL set)',
  },
  VL_ERR_INTERNAL: { status: 500, retryable: true, message: 'internal error' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class VoxlineError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  /** When to try again, in seconds: sent as `Retry-After` (HTTP and SIP) where it is set. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; retryAfterS?: number }) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.name = 'VoxlineError';
    this.code = code;
    this.statusCode = spec.status;
    this.retryable = spec.retryable;
    this.retryAfterS = options?.retryAfterS;
  }
}

export function isVoxlineError(value: unknown, code?: ErrorCode): value is VoxlineError {
  return value instanceof VoxlineError && (code === undefined || value.code === code);
}
