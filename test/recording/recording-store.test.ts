import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { VoxlineError } from '../../src/errors.js';
import {
  type ObjectStore,
  type PutRecording,
  putObjectInput,
  type StoredObject,
} from '../../src/recording/object-store.js';
import {
  objectKey,
  objectUrl,
  parseS3Url,
  type S3RecordingStore,
} from '../../src/recording/recording-store-config.js';
import { mismatch, RecordingUploads } from '../../src/recording/recording-uploads.js';
import { configError } from '../helpers/config.js';
import { eventually } from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';

describe('RECORDING_STORE', () => {
  it('parses s3://bucket/prefix into a bucket and a prefix without edge slashes', () => {
    expect(parseS3Url('s3://calls')).toEqual({ bucket: 'calls', prefix: '' });
    expect(parseS3Url('s3://calls/')).toEqual({ bucket: 'calls', prefix: '' });
    expect(parseS3Url('s3://my.calls-eu/2026/voxline/')).toEqual({
      bucket: 'my.calls-eu',
      prefix: '2026/voxline',
    });
    for (const bad of [
      'calls',
      'https://calls/x',
      's3://',
      's3://Calls',
      's3://ab',
      's3://a..b',
      's3://10.0.0.1',
      's3://-x-',
    ]) {
      expect(typeof parseS3Url(bad), bad).toBe('string');
    }
    expect(parseS3Url('s3://calls/a//b')).toMatch(/empty/);
    expect(parseS3Url('s3://calls/a/../b')).toMatch(/"\.\."/);
  });

  it('names each object <prefix>/<CallSid>.wav and announces it as s3://bucket/key', () => {
    expect(objectKey('', 'CA1')).toBe('CA1.wav');
    expect(objectKey('a/b', 'CA1')).toBe('a/b/CA1.wav');
    expect(objectUrl({ bucket: 'calls', prefix: 'a/b' }, 'CA1')).toBe('s3://calls/a/b/CA1.wav');
  });

  it('is local by default, and frozen with what an upload needs when set', () => {
    expect(loadConfig({}).recordingStore).toBeUndefined();
    const config = loadConfig({
      RECORDING_STORE: 's3://calls/eu/',
      S3_ENDPOINT: 'http://minio:9000',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret/Example+Key',
      RECORDING_LOCK_DAYS: '2555',
      RECORDING_LOCK_MODE: 'GOVERNANCE',
    });
    expect(config.recordingStore).toMatchObject({
      kind: 's3',
      bucket: 'calls',
      prefix: 'eu',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/Example+Key' },
      lock: { mode: 'GOVERNANCE', days: 2555 },
      urlTtlSeconds: 300,
      retry: { baseMs: 1000, maxMs: 300_000 },
    });
    expect(Object.isFrozen(config.recordingStore?.credentials)).toBe(true);
    // AWS itself: virtual-hosted style, and the SDK's default credential chain.
    const aws = loadConfig({ RECORDING_STORE: 's3://calls' }).recordingStore;
    expect(aws).toMatchObject({
      endpoint: undefined,
      forcePathStyle: false,
      credentials: undefined,
      lock: undefined,
    });
  });

  it('refuses what cannot work, naming the variable, and never shows a secret', () => {
    expect(configError({ RECORDING_STORE: 's3://Not_A_Bucket/x' })).toMatch(
      /RECORDING_STORE: .*not a valid bucket name/,
    );
    expect(configError({ RECORDING_STORE: 'gs://calls' })).toMatch(
      /RECORDING_STORE: expected `local` or s3:\/\/bucket\/prefix/,
    );
    expect(configError({ RECORDING_STORE: 's3://calls', S3_ENDPOINT: 'minio:9000' })).toMatch(
      /S3_ENDPOINT: must be an http\(s\) URL/,
    );
    expect(configError({ RECORDING_LOCK_DAYS: '30' })).toMatch(
      /RECORDING_LOCK_DAYS: Object Lock needs RECORDING_STORE/,
    );
    expect(configError({ RECORDING_STORE: 's3://calls', RECORDING_LOCK_MODE: 'FOREVER' })).toMatch(
      /RECORDING_LOCK_MODE: expected one of COMPLIANCE, GOVERNANCE/,
    );
    const secret = 'wJalrXUtnFEMI/K7MDENG bPxRfiCYEXAMPLEKEY';
    const message = configError({ RECORDING_STORE: 's3://calls', AWS_SECRET_ACCESS_KEY: secret });
    expect(message).toMatch(/AWS_SECRET_ACCESS_KEY: character 22 is a space.*got 40 characters/);
    expect(message).not.toContain('wJalrXUtnFEMI');
    expect(configError({ RECORDING_STORE: 's3://calls', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' })).toMatch(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both, or neither/,
    );
  });

  it('warns where a setting has no effect', () => {
    expect(
      loadConfig({ RECORDING_STORE: 's3://calls', RECORDING_RETENTION_HOURS: '24' }).warnings,
    ).toContainEqual(expect.stringMatching(/RECORDING_RETENTION_HOURS does not apply/));
    expect(loadConfig({ S3_ENDPOINT: 'http://minio:9000' }).warnings).toContainEqual(
      expect.stringMatching(/S3_ENDPOINT is set but RECORDING_STORE is local/),
    );
  });
});

describe('the PutObject request', () => {
  const recording = { key: 'eu/CA1.wav', bytes: 44, sha256: 'ab'.repeat(32) };
  it('carries the sha256 as S3 checksum and as metadata, and Object Lock retention when configured', () => {
    const now = Date.UTC(2026, 5, 1);
    const locked = putObjectInput(
      { bucket: 'calls', lock: { mode: 'COMPLIANCE', days: 10 } },
      recording,
      now,
    );
    expect(locked).toEqual({
      Bucket: 'calls',
      Key: 'eu/CA1.wav',
      ContentLength: 44,
      ContentType: 'audio/wav',
      ChecksumSHA256: Buffer.from('ab'.repeat(32), 'hex').toString('base64'),
      Metadata: { sha256: 'ab'.repeat(32) },
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date(Date.UTC(2026, 5, 11)),
    });
    const plain = putObjectInput({ bucket: 'calls', lock: undefined }, recording, now);
    expect(plain).not.toHaveProperty('ObjectLockMode');
    expect(plain).not.toHaveProperty('ObjectLockRetainUntilDate');
  });

  it('counts as confirmed only when the stored size and sha256 are the recording’s', () => {
    const job = { callSid: 'CA1', path: '/x', bytes: 44, sha256: 'ab'.repeat(32) };
    const good: StoredObject = { bytes: 44, metadataSha256: job.sha256, checksumSha256: undefined };
    expect(mismatch(good, job)).toBeUndefined();
    expect(mismatch({ ...good, checksumSha256: job.sha256 }, job)).toBeUndefined();
    expect(mismatch(undefined, job)).toMatch(/not found/);
    expect(mismatch({ ...good, bytes: 43 }, job)).toMatch(/43 bytes/);
    expect(mismatch({ ...good, metadataSha256: undefined }, job)).toMatch(/metadata/);
    expect(mismatch({ ...good, checksumSha256: 'cd'.repeat(32) }, job)).toMatch(/checksum/);
  });
});

/** A store that fails the first `failures` puts, and holds what it was given after that. */
class FlakyStore implements ObjectStore {
  readonly puts: number[] = [];
  readonly objects = new Map<string, StoredObject>();
  constructor(
    readonly clock: ManualClock,
    public failures: number,
  ) {}
  async put(r: PutRecording): Promise<void> {
    this.puts.push(this.clock.now());
    if (this.failures-- > 0)
      throw new VoxlineError('VL_ERR_RECORDING_STORE', 'PutObject: connect ECONNREFUSED');
    this.objects.set(r.key, { bytes: r.bytes, metadataSha256: r.sha256, checksumSha256: undefined });
  }
  async head(key: string): Promise<StoredObject | undefined> {
    return this.objects.get(key);
  }
  async presignGet(): Promise<string> {
    return 'http://store/x';
  }
  get(): Promise<never> {
    return Promise.reject(new Error('the uploads never read an object back'));
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  close(): void {}
}

describe('RecordingUploads', () => {
  const options: S3RecordingStore = {
    ...(loadConfig({ RECORDING_STORE: 's3://calls/p' }).recordingStore as S3RecordingStore),
    retry: { baseMs: 1_000, maxMs: 4_000 },
  };

  function recordingFile(): { path: string; sha256: string; bytes: number } {
    const path = join(mkdtempSync(join(tmpdir(), 'voxline-upload-')), 'CA1.wav');
    const data = Buffer.from('RIFF-not-really-a-wav');
    writeFileSync(path, data);
    return { path, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  }

  it('retries with doubling delays on the clock, capped, keeping the file until the object is confirmed', async () => {
    const clock = new ManualClock();
    const store = new FlakyStore(clock, 4);
    // random() = 1: the longest delay of each step (equal jitter: between half and all of it).
    const uploads = new RecordingUploads(store, options, pino({ level: 'silent' }), clock, () => 1);
    const file = recordingFile();
    uploads.enqueue({ callSid: 'CA1', ...file });
    await eventually(() => expect(store.puts).toEqual([0]));
    for (const step of [1_000, 2_000, 4_000, 4_000]) {
      expect(existsSync(file.path)).toBe(true);
      expect(uploads.pending('CA1')).toBe(true);
      const before = store.puts.length;
      await clock.advance(step - 1);
      expect(store.puts).toHaveLength(before); // not a moment early
      await clock.advance(1);
      await eventually(() => expect(store.puts).toHaveLength(before + 1));
    }
    expect(store.puts).toEqual([0, 1_000, 3_000, 7_000, 11_000]);
    await eventually(() => expect(existsSync(file.path)).toBe(false));
    expect(uploads.pending('CA1')).toBe(false);
    expect(store.objects.get('p/CA1.wav')).toMatchObject({ bytes: file.bytes, metadataSha256: file.sha256 });
    expect(clock.pending).toBe(0);
  });

  it('cancel (an erasure) drops a waiting retry, and waits for an attempt in flight: nothing is put after', async () => {
    const clock = new ManualClock();
    const store = new FlakyStore(clock, 1);
    const uploads = new RecordingUploads(store, options, pino({ level: 'silent' }), clock, () => 1);
    uploads.enqueue({ callSid: 'CA1', ...recordingFile() });
    await eventually(() => expect(clock.pending).toBe(1)); // the first put failed: a retry waits
    expect(await uploads.cancel('CA1')).toBe(true);
    expect(uploads.pending('CA1')).toBe(false);
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(store.puts).toHaveLength(1);

    let finishPut!: () => void;
    store.put = async () => {
      store.puts.push(clock.now());
      await new Promise<void>((resolve) => {
        finishPut = resolve;
      });
    };
    uploads.enqueue({ callSid: 'CA2', ...recordingFile() });
    await eventually(() => expect(store.puts).toHaveLength(2));
    let cancelled = false;
    const cancelling = uploads.cancel('CA2').then(() => {
      cancelled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled).toBe(false); // the put in flight is not over yet
    finishPut();
    await cancelling;
    expect(await uploads.cancel('CA2')).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('does not delete the file when the stored object does not match, and stops retrying when stopped', async () => {
    const clock = new ManualClock();
    const store = new FlakyStore(clock, 0);
    store.head = async () => ({ bytes: 1, metadataSha256: undefined, checksumSha256: undefined });
    const uploads = new RecordingUploads(store, options, pino({ level: 'silent' }), clock, () => 0);
    const file = recordingFile();
    uploads.enqueue({ callSid: 'CA1', ...file });
    await eventually(() => expect(clock.pending).toBe(1)); // a retry is scheduled
    expect(existsSync(file.path)).toBe(true);
    uploads.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(store.puts).toHaveLength(1);
    expect(existsSync(file.path)).toBe(true);
  });
});
