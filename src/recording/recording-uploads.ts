import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { isSealedFile } from '../crypto/sealed-source.js';
import { VoxlineError } from '../errors.js';
import type { ObjectStore, StoredObject } from './object-store.js';
import { objectKey, objectUrl, type S3RecordingStore } from './recording-store-config.js';

/** A finished recording waiting for its object to be confirmed. */
export interface UploadJob {
  readonly callSid: string;
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

interface Job extends UploadJob {
  attempts: number;
  timer: TimerHandle | undefined;
  /** The attempt in flight, if one is. */
  attempt: Promise<void> | undefined;
}

const RECORDING_FILE = /^([A-Za-z0-9_-]{1,64})\.wav$/;

/**
 * Uploads finished recordings to the object store, at most `concurrency` at a time. An upload
 * counts as done only once HeadObject shows an object of the file's size with its sha256; then the
 * local file is deleted. Until then the file stays, and a failed attempt is retried on the clock
 * (`baseMs` doubling up to `maxMs`, equal jitter), forever: nothing is given up. The local folder is
 * the queue's durable state: at start every finished file still there is queued again (a crash or a
 * restart loses no upload). A sealed recording (ENCRYPTION_KEY) is uploaded sealed: the size and
 * sha256 compared are the sealed file's, as on disk (recording.ready's are the decrypted WAV's).
 */
export class RecordingUploads {
  readonly #store: ObjectStore;
  readonly #options: S3RecordingStore;
  readonly #log: FastifyBaseLogger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onUploaded: (callSid: string) => void;
  readonly #jobs = new Map<string, Job>();
  readonly #ready: Job[] = [];
  readonly #stop = new AbortController();
  #running = 0;

  constructor(
    store: ObjectStore,
    options: S3RecordingStore,
    log: FastifyBaseLogger,
    clock: Clock = systemClock,
    random: () => number = Math.random,
    onUploaded: (callSid: string) => void = () => undefined,
  ) {
    this.#onUploaded = onUploaded;
    this.#store = store;
    this.#options = options;
    this.#log = log;
    this.#clock = clock;
    this.#random = random;
  }

  get store(): ObjectStore {
    return this.#store;
  }

  keyOf(callSid: string): string {
    return objectKey(this.#options.prefix, callSid);
  }

  /** `s3://bucket/key`: what recording.ready carries. */
  urlOf(callSid: string): string {
    return objectUrl(this.#options, callSid);
  }

  /** True while the call's recording is queued, uploading or waiting to retry. */
  pending(callSid: string): boolean {
    return this.#jobs.has(callSid);
  }

  get size(): number {
    return this.#jobs.size;
  }

  /** Queues a finished recording (a newer one for the same call replaces a waiting one). */
  enqueue(upload: UploadJob): void {
    if (this.#stop.signal.aborted) return;
    const existing = this.#jobs.get(upload.callSid);
    if (existing) {
      this.#clock.clearTimeout(existing.timer);
      const at = this.#ready.indexOf(existing);
      if (at >= 0) this.#ready.splice(at, 1);
    }
    const job: Job = { ...upload, attempts: 0, timer: undefined, attempt: undefined };
    this.#jobs.set(upload.callSid, job);
    this.#ready.push(job);
    this.#pump();
  }

  /**
   * Queues every finished recording left in `dir` (not being written, not queued): files whose
   * upload had not been confirmed when voxline last stopped. Resolves with how many were queued.
   */
  async recover(dir: string, writing: (callSid: string) => boolean): Promise<number> {
    let queued = 0;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const callSid = RECORDING_FILE.exec(name)?.[1];
      if (!callSid || writing(callSid) || this.#jobs.has(callSid) || this.#stop.signal.aborted) continue;
      const path = join(dir, name);
      try {
        const { sha256, bytes } = await hashFile(path);
        // Checked again: the call may have started, or its upload been queued, while hashing.
        if (writing(callSid) || this.#jobs.has(callSid)) continue;
        this.enqueue({ callSid, path, sha256, bytes });
        queued++;
      } catch (err) {
        this.#log.warn({ err, path }, 'a recording left on disk could not be read for upload');
      }
    }
    if (queued > 0) this.#log.info({ queued }, 'recordings left on disk queued for upload');
    return queued;
  }

  /**
   * Erasure: the call's upload leaves the queue, and an attempt in flight is waited for, so that
   * nothing is put under its key after this resolves. True if there was one.
   */
  async cancel(callSid: string): Promise<boolean> {
    const job = this.#jobs.get(callSid);
    if (!job) return false;
    this.#jobs.delete(callSid);
    this.#clock.clearTimeout(job.timer);
    const at = this.#ready.indexOf(job);
    if (at >= 0) this.#ready.splice(at, 1);
    await job.attempt?.catch(() => undefined);
    return true;
  }

  /** Stops retries and aborts uploads in flight (their files stay, for the next start). */
  stop(): void {
    this.#stop.abort();
    for (const job of this.#jobs.values()) this.#clock.clearTimeout(job.timer);
    this.#ready.length = 0;
    this.#store.close();
  }

  #pump(): void {
    while (this.#running < this.#options.concurrency && this.#ready.length > 0) {
      const job = this.#ready.shift() as Job;
      this.#running++;
      job.attempt = this.#attempt(job).finally(() => {
        job.attempt = undefined;
        this.#running--;
        this.#pump();
      });
    }
  }

  async #attempt(job: Job): Promise<void> {
    const signal = this.#stop.signal;
    const key = this.keyOf(job.callSid);
    job.attempts++;
    try {
      const size = await stat(job.path).then(
        (s) => s.size,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      if (size === undefined) {
        // Deleted by hand (or a second voxline on the same folder uploaded it): nothing left to send.
        this.#log.error({ callSid: job.callSid, path: job.path }, 'recording to upload is gone from disk');
        this.#finish(job);
        return;
      }
      // A sealed file (ENCRYPTION_KEY) goes as it is, its own size and sha256 compared; it is
      // stored as a sealed recording, so that the route serves it decrypted.
      const sealed = await isSealedFile(job.path);
      await this.#store.put({ key, path: job.path, bytes: job.bytes, sha256: job.sha256, sealed, signal });
      const stored = await this.#store.head(key, signal);
      const problem = mismatch(stored, job);
      if (problem) throw new VoxlineError('VL_ERR_RECORDING_STORE', `${key}: ${problem}`);
      // Confirmed: only now does the local copy go.
      await unlink(job.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.#finish(job);
      this.#log.info(
        { callSid: job.callSid, key, sha256: job.sha256, bytes: job.bytes, attempts: job.attempts },
        'recording uploaded',
      );
      this.#onUploaded(job.callSid);
    } catch (err) {
      if (signal.aborted || this.#jobs.get(job.callSid) !== job) return;
      const delayMs = this.#delay(job.attempts);
      this.#log.warn(
        { err, callSid: job.callSid, key, attempts: job.attempts, retryInMs: delayMs },
        'recording upload failed: the local file is kept and the upload retried',
      );
      job.timer = this.#clock.setTimeout(() => {
        job.timer = undefined;
        if (signal.aborted || this.#jobs.get(job.callSid) !== job) return;
        this.#ready.push(job);
        this.#pump();
      }, delayMs);
      job.timer.unref();
    }
  }

  #finish(job: Job): void {
    if (this.#jobs.get(job.callSid) === job) this.#jobs.delete(job.callSid);
  }

  /** `baseMs · 2^(attempt−1)` up to `maxMs`, the second half of it random (equal jitter). */
  #delay(attempts: number): number {
    const { baseMs, maxMs } = this.#options.retry;
    const full = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 40));
    return Math.round(full / 2 + (full / 2) * this.#random());
  }
}

/** Why the stored object is not the recording (undefined: it is). */
export function mismatch(stored: StoredObject | undefined, job: UploadJob): string | undefined {
  if (!stored) return 'not found after the put';
  if (stored.bytes !== job.bytes) return `stored ${stored.bytes} bytes, the recording has ${job.bytes}`;
  if (stored.checksumSha256 !== undefined && stored.checksumSha256 !== job.sha256) {
    return `stored checksum ${stored.checksumSha256} is not the recording's ${job.sha256}`;
  }
  if (stored.metadataSha256 !== job.sha256) {
    return `stored sha256 metadata ${stored.metadataSha256 ?? '(none)'} is not the recording's ${job.sha256}`;
  }
  return undefined;
}

async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
