import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FastifyBaseLogger } from 'fastify';
import { type Clock, systemClock } from '../clock.js';
import { VoxlineError } from '../errors.js';
import type { S3RecordingStore } from './recording-store-config.js';

/** A recording file to store under `key`. */
export interface PutRecording {
  readonly key: string;
  readonly path: string;
  readonly bytes: number;
  /** Hex SHA-256 of the file as it is on disk: the WAV's (what recording.ready carries), or the sealed file's. */
  readonly sha256: string;
  /** A sealed recording (ENCRYPTION_KEY): stored as SEALED_CONTENT_TYPE, not audio/wav. */
  readonly sealed?: boolean;
  readonly signal?: AbortSignal;
}

/** What a sealed recording is stored as: its bytes are not a WAV until decrypted. */
export const SEALED_CONTENT_TYPE = 'application/vnd.voxline.sealed-recording';

/** What the store says it holds under a key. */
export interface StoredObject {
  readonly bytes: number;
  /** The sha256 user metadata voxline wrote (x-amz-meta-sha256). */
  readonly metadataSha256: string | undefined;
  /** The store's own SHA-256 checksum of the object, hex, when it keeps one (AWS S3 does; s3rver does not). */
  readonly checksumSha256: string | undefined;
  /** Stored as a sealed recording (SEALED_CONTENT_TYPE): served decrypted, never by a presigned URL. */
  readonly sealed?: boolean;
}

/** The port the uploads and the recording route use; S3ObjectStore is the real one. */
export interface ObjectStore {
  put(recording: PutRecording): Promise<void>;
  /** undefined when nothing is stored under the key. */
  head(key: string, signal?: AbortSignal): Promise<StoredObject | undefined>;
  /** A GetObject URL anyone holding it may use until it expires. */
  presignGet(key: string, filename: string): Promise<string>;
  /** Bytes [start, end) of the object, streamed (a sealed recording is served through voxline). */
  get(key: string, start: number, end: number, signal?: AbortSignal): Promise<Readable>;
  /** Erasure: DeleteObject (a key that is not there is no error). */
  delete(key: string): Promise<void>;
  close(): void;
}

/**
 * Recordings in an S3-compatible bucket through @aws-sdk/client-s3: one PutObject per finished file
 * (streamed from disk, with its SHA-256 as both an integrity checksum the server verifies and user
 * metadata), optional Object Lock retention, HeadObject to confirm, presigned GetObject to serve.
 * The SDK does not retry (maxAttempts 1): a file stream cannot be replayed, and RecordingUploads
 * retries on the injected clock with a fresh stream.
 */
export class S3ObjectStore implements ObjectStore {
  readonly #client: S3Client;
  readonly #options: S3RecordingStore;
  readonly #clock: Clock;

  constructor(options: S3RecordingStore, clock: Clock = systemClock, log?: FastifyBaseLogger) {
    this.#options = options;
    this.#clock = clock;
    // The SDK's own remarks (it would print them to the console) go to debug as plain text; the
    // failures that matter are logged by RecordingUploads, with their codes.
    const remark = (...args: unknown[]) => log?.debug({ sdk: args.map(String).join(' ') }, 'aws sdk');
    this.#client = new S3Client({
      logger: {
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: remark,
        error: remark,
      },
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle,
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
      maxAttempts: 1,
      // The SHA-256 is sent with every put; no second (CRC32) checksum on top of it.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    });
  }

  async put(recording: PutRecording): Promise<void> {
    const input = putObjectInput(this.#options, recording, this.#clock.wallNow());
    try {
      await this.#client.send(
        new PutObjectCommand({ ...input, Body: createReadStream(recording.path) }),
        recording.signal ? { abortSignal: recording.signal } : {},
      );
    } catch (err) {
      throw storeError('PutObject', recording.key, err);
    }
  }

  async head(key: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    try {
      const head = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#options.bucket, Key: key, ChecksumMode: 'ENABLED' }),
        signal ? { abortSignal: signal } : {},
      );
      return {
        bytes: head.ContentLength ?? -1,
        metadataSha256: head.Metadata?.sha256,
        // A multipart object's checksum is of its parts ("…-3"): not comparable, so not returned.
        checksumSha256:
          head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-')
            ? Buffer.from(head.ChecksumSHA256, 'base64').toString('hex')
            : undefined,
        sealed: head.ContentType === SEALED_CONTENT_TYPE,
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw storeError('HeadObject', key, err);
    }
  }

  async presignGet(key: string, filename: string): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.#options.bucket,
      Key: key,
      ResponseContentType: 'audio/wav',
      ResponseContentDisposition: `attachment; filename="${filename}"`,
    });
    return getSignedUrl(this.#client, command, {
      expiresIn: this.#options.urlTtlSeconds,
      signingDate: new Date(this.#clock.wallNow()),
    });
  }

  async get(key: string, start: number, end: number, signal?: AbortSignal): Promise<Readable> {
    try {
      const got = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#options.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
        signal ? { abortSignal: signal } : {},
      );
      return got.Body as Readable; // a Node stream.Readable with the Node request handler
    } catch (err) {
      throw storeError('GetObject', key, err);
    }
  }

  /**
   * With Object Lock on the bucket (RECORDING_LOCK_DAYS), S3 keeps the locked version and this only
   * adds a delete marker: the bytes stay until the retention ends (that is what the lock is for).
   */
  async delete(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw storeError('DeleteObject', key, err);
    }
  }

  close(): void {
    this.#client.destroy();
  }
}

/** The PutObject request for a recording, less its body (pure: what the unit tests check). */
export function putObjectInput(
  options: Pick<S3RecordingStore, 'bucket' | 'lock'>,
  recording: Omit<PutRecording, 'path' | 'signal'>,
  nowMs: number,
): Omit<PutObjectCommandInput, 'Body'> {
  return {
    Bucket: options.bucket,
    Key: recording.key,
    ContentLength: recording.bytes,
    ContentType: recording.sealed ? SEALED_CONTENT_TYPE : 'audio/wav',
    // S3 recomputes this and refuses the put (BadDigest) if the bytes it got differ.
    ChecksumSHA256: Buffer.from(recording.sha256, 'hex').toString('base64'),
    Metadata: { sha256: recording.sha256 },
    ...(options.lock
      ? {
          ObjectLockMode: options.lock.mode,
          ObjectLockRetainUntilDate: new Date(nowMs + options.lock.days * 86_400_000),
        }
      : {}),
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

function storeError(operation: string, key: string, err: unknown): VoxlineError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const what = `${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`;
  return new VoxlineError('VL_ERR_RECORDING_STORE', `${operation} ${key}: ${what}`, { cause: err });
}
