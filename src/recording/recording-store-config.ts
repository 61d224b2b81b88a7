import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../config-part.js';
import { isHttpUrl } from '../http-url.js';

/**
 * Where finished recordings end up: local disk (DATA_DIR/recordings, the default), or an
 * S3-compatible bucket (RECORDING_STORE=s3://bucket/prefix) they are uploaded to when the call ends.
 */
export interface S3RecordingStore {
  readonly kind: 's3';
  readonly bucket: string;
  /** Key prefix without leading or trailing slashes ('' for the bucket's root). */
  readonly prefix: string;
  /** S3-compatible endpoint (MinIO, R2, s3rver…); undefined: AWS's own for the region. */
  readonly endpoint: string | undefined;
  /** Path-style requests (`endpoint/bucket/key`): on whenever an endpoint is set. */
  readonly forcePathStyle: boolean;
  readonly region: string;
  /** Static credentials; undefined: the AWS SDK's default chain (instance or container role, web identity, profile). */
  readonly credentials:
    | { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    | undefined;
  /** Object Lock retention set on each object (WORM); undefined: none. */
  readonly lock: { readonly mode: 'COMPLIANCE' | 'GOVERNANCE'; readonly days: number } | undefined;
  /** How long the presigned URL GET /v1/calls/:callSid/recording redirects to is valid. */
  readonly urlTtlSeconds: number;
  /** Upload retries: the first after `baseMs`, doubling up to `maxMs` (with jitter), forever. */
  readonly retry: { readonly baseMs: number; readonly maxMs: number };
  /** Uploads in flight at once. */
  readonly concurrency: number;
}

/** undefined: local disk only. */
export type RecordingStoreConfig = S3RecordingStore | undefined;

export const RecordingStoreEnvProperties = {
  RECORDING_STORE: Type.String({
    minLength: 1,
    default: 'local',
    description: '`local` (DATA_DIR/recordings) or `s3://bucket/prefix`: upload each finished recording',
  }),
  S3_ENDPOINT: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'S3-compatible endpoint URL (MinIO, R2, …; path-style requests); unset: AWS S3',
    }),
  ),
  AWS_REGION: Type.String({ minLength: 1, default: 'us-east-1', description: 'region of the bucket' }),
  AWS_ACCESS_KEY_ID: Type.Optional(Type.String({ minLength: 1, description: 'S3 access key id' })),
  AWS_SECRET_ACCESS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'S3 secret access key' })),
  AWS_SESSION_TOKEN: Type.Optional(
    Type.String({ minLength: 1, description: 'S3 session token (temporary credentials)' }),
  ),
  RECORDING_LOCK_DAYS: Type.Integer({
    minimum: 0,
    maximum: 36_500,
    default: 0,
    description: 'Object Lock retention set on each uploaded recording, in days (0: none)',
  }),
  RECORDING_LOCK_MODE: Type.Union([Type.Literal('COMPLIANCE'), Type.Literal('GOVERNANCE')], {
    default: 'COMPLIANCE',
    description: 'Object Lock mode with RECORDING_LOCK_DAYS',
  }),
  RECORDING_URL_TTL_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 3_600,
    default: 300,
    description: 'how long the presigned URL GET /v1/calls/:callSid/recording redirects to is valid',
  }),
  RECORDING_UPLOAD_RETRY_BASE_MS: Type.Integer({
    minimum: 10,
    maximum: 3_600_000,
    default: 1_000,
    description: 'first retry of a failed recording upload (doubles, with jitter)',
  }),
  RECORDING_UPLOAD_RETRY_MAX_MS: Type.Integer({
    minimum: 10,
    maximum: 86_400_000,
    default: 300_000,
    description: 'longest delay between recording upload retries (they never stop)',
  }),
  RECORDING_UPLOAD_CONCURRENCY: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 2,
    description: 'recording uploads in flight at once',
  }),
};

interface RecordingStoreEnv {
  RECORDING_STORE: string;
  RECORDING_FORMAT: string;
  RECORDING_RETENTION_HOURS: number;
  S3_ENDPOINT?: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  RECORDING_LOCK_DAYS: number;
  RECORDING_LOCK_MODE: 'COMPLIANCE' | 'GOVERNANCE';
  RECORDING_URL_TTL_SECONDS: number;
  RECORDING_UPLOAD_RETRY_BASE_MS: number;
  RECORDING_UPLOAD_RETRY_MAX_MS: number;
  RECORDING_UPLOAD_CONCURRENCY: number;
}

/** S3's bucket naming rules (the general-purpose ones): 3–63 of a-z 0-9 . -, starting and ending alphanumeric. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/some/prefix/` → { bucket, prefix: 'some/prefix' }; a string saying what is wrong otherwise. */
export function parseS3Url(value: string): { bucket: string; prefix: string } | string {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(value);
  if (!match) return 'expected `local` or s3://bucket/prefix';
  const [, bucket, rest = ''] = match;
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    return `${JSON.stringify(bucket)} is not a valid bucket name (3–63 of a-z, 0-9, "." and "-")`;
  }
  const prefix = rest.replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && prefix.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    return `the prefix ${JSON.stringify(rest)} has an empty, "." or ".." segment`;
  }
  if (/\p{Cc}/u.test(prefix)) return 'the prefix has a control character';
  return { bucket, prefix };
}

/** The object key of a call's recording: `<prefix>/<CallSid>.wav`. */
export function objectKey(prefix: string, callSid: string): string {
  return prefix === '' ? `${callSid}.wav` : `${prefix}/${callSid}.wav`;
}

/** The URL recording.ready carries: `s3://bucket/key`. */
export function objectUrl(store: Pick<S3RecordingStore, 'bucket' | 'prefix'>, callSid: string): string {
  return `s3://${store.bucket}/${objectKey(store.prefix, callSid)}`;
}

export function recordingStoreConfigFrom(e: RecordingStoreEnv): ConfigPart<RecordingStoreConfig> {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (e.RECORDING_STORE === 'local') {
    if (e.S3_ENDPOINT !== undefined)
      warnings.push('S3_ENDPOINT is set but RECORDING_STORE is local: it is not used');
    if (e.RECORDING_LOCK_DAYS > 0) {
      problems.push('RECORDING_LOCK_DAYS: Object Lock needs RECORDING_STORE=s3://bucket/prefix');
    }
    return { value: undefined, problems, warnings };
  }
  const parsed = parseS3Url(e.RECORDING_STORE);
  if (typeof parsed === 'string') {
    problems.push(`RECORDING_STORE: ${parsed} (got ${JSON.stringify(e.RECORDING_STORE)})`);
  }
  if (e.S3_ENDPOINT !== undefined && !isHttpUrl(e.S3_ENDPOINT)) {
    problems.push(`S3_ENDPOINT: must be an http(s) URL (got ${JSON.stringify(e.S3_ENDPOINT)})`);
  }
  const id = e.AWS_ACCESS_KEY_ID;
  const secret = e.AWS_SECRET_ACCESS_KEY;
  if ((id === undefined) !== (secret === undefined)) {
    problems.push(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both, or neither (the SDK default chain)',
    );
  }
  if (e.RECORDING_UPLOAD_RETRY_MAX_MS < e.RECORDING_UPLOAD_RETRY_BASE_MS) {
    problems.push('RECORDING_UPLOAD_RETRY_MAX_MS: must be at least RECORDING_UPLOAD_RETRY_BASE_MS');
  }
  if (e.RECORDING_FORMAT === 'none') {
    warnings.push('RECORDING_STORE is set but RECORDING_FORMAT=none: nothing is recorded or uploaded');
  }
  if (e.RECORDING_RETENTION_HOURS > 0) {
    warnings.push(
      'RECORDING_RETENTION_HOURS does not apply with RECORDING_STORE=s3://…: uploaded files leave the disk once confirmed, files awaiting upload are kept; use a lifecycle rule on the bucket',
    );
  }
  if (typeof parsed === 'string' || problems.length > 0) return { value: undefined, problems, warnings };
  return {
    value: {
      kind: 's3',
      bucket: parsed.bucket,
      prefix: parsed.prefix,
      endpoint: e.S3_ENDPOINT,
      forcePathStyle: e.S3_ENDPOINT !== undefined,
      region: e.AWS_REGION,
      credentials:
        id !== undefined && secret !== undefined
          ? {
              accessKeyId: id,
              secretAccessKey: secret,
              ...(e.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: e.AWS_SESSION_TOKEN }),
            }
          : undefined,
      lock:
        e.RECORDING_LOCK_DAYS > 0 ? { mode: e.RECORDING_LOCK_MODE, days: e.RECORDING_LOCK_DAYS } : undefined,
      urlTtlSeconds: e.RECORDING_URL_TTL_SECONDS,
      retry: { baseMs: e.RECORDING_UPLOAD_RETRY_BASE_MS, maxMs: e.RECORDING_UPLOAD_RETRY_MAX_MS },
      concurrency: e.RECORDING_UPLOAD_CONCURRENCY,
    },
    problems,
    warnings,
  };
}
