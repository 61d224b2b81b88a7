import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';
import {
  createBucket,
  Gate,
  readObject,
  S3RVER_KEY,
  type S3rverProcess,
  startS3rver,
} from './support/s3rver.js';

// s3rver checks the access key id, not SigV4 signatures: this secret is only here to be kept out of logs.
const AWS_SECRET = 'aws-secret-that-must-never-be-logged-0123';
const greeting = demoCall('greeting');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function s3Env(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RECORDING_STORE: 's3://recordings/calls/eu-1',
    S3_ENDPOINT: endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: S3RVER_KEY,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    ...extra,
  };
}

async function s3rver(buckets: string[]): Promise<S3rverProcess> {
  const s3 = await startS3rver(buckets);
  cleanups.push(() => s3.stop());
  return s3;
}

async function gatewayWith(...args: Parameters<typeof startGateway>): Promise<Gateway> {
  const gateway = await startGateway(...args);
  cleanups.push(() => gateway.close());
  return gateway;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const keyOf = (callSid: string) => `calls/eu-1/${callSid}.wav`;

function logged(gateway: Gateway, msg: string, callSid: string): Record<string, unknown>[] {
  return gateway.logs.filter((l) => l.msg === msg && l.callSid === callSid);
}

describe('recordings in S3-compatible object storage (a real s3rver process)', () => {
  it('lands in the bucket with the sha256 recording.ready carries, and plays through the presigned redirect', async () => {
    const s3 = await s3rver(['recordings']);
    const receiver = new TestReceiver();
    cleanups.push(() => receiver.close());
    const gateway = await gatewayWith({
      ...s3Env(s3.endpoint),
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
    });
    const { callSid } = await playDemo(gateway, 'greeting');

    const ready = await eventually(() => {
      const event = receiver.events.find((e) => e.type === 'recording.ready' && e.callSid === callSid);
      expect(event).toBeDefined();
      return event as NonNullable<typeof event>;
    }, 20_000);
    expect(schemaValidator()(ready)).toEqual([]);
    expect(ready.data.url).toBe(`s3://recordings/${keyOf(callSid)}`);

    // In the bucket, byte for byte: its sha256 is recording.ready's, also kept as object metadata.
    const object = await eventually(async () => {
      const found = await readObject(s3, 'recordings', keyOf(callSid));
      expect(found).toBeDefined();
      return found as NonNullable<typeof found>;
    }, 20_000);
    expect(sha256(object.body)).toBe(ready.data.sha256);
    expect(object.body.length).toBe(ready.data.bytes);
    expect(object.metadata.sha256).toBe(ready.data.sha256);
    // Confirmed, so the local copy is gone.
    const local = join(gateway.config.dataDir, 'recordings', `${callSid}.wav`);
    await eventually(() => expect(existsSync(local)).toBe(false), 10_000);
    // The call's record says so too: the object, its sha256, confirmed (what another instance reads).
    await eventually(async () => {
      const record = (await (await fetch(`${gateway.baseUrl}/v1/calls/${callSid}`)).json()) as {
        recording: Record<string, unknown> | null;
      };
      expect(record.recording).toMatchObject({
        objectUrl: ready.data.url,
        sha256: ready.data.sha256,
        bytes: ready.data.bytes,
        uploaded: true,
      });
    }, 10_000);

    // GET …/recording: a short-lived presigned GetObject URL on the endpoint, not the bytes.
    const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const location = new URL(response.headers.get('location') as string);
    expect(`${location.origin}${location.pathname}`).toBe(`${s3.endpoint}/recordings/${keyOf(callSid)}`);
    expect(location.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(location.searchParams.get('X-Amz-Credential')).toMatch(
      /^S3RVER\/\d{8}\/eu-west-1\/s3\/aws4_request$/,
    );
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    // …which plays: the same bytes, a WAV with the caller left and the agent right, as sent.
    const played = await fetch(location);
    expect(played.status).toBe(200);
    expect(played.headers.get('content-type')).toBe('audio/wav');
    const bytes = Buffer.from(await played.arrayBuffer());
    expect(sha256(bytes)).toBe(ready.data.sha256);
    const wav = new WaveFile(bytes);
    expect(wav.fmt).toMatchObject({ audioFormat: 7, numChannels: 2, sampleRate: 8000 });
    const [left, right] = wav.getSamples(false, Uint8Array) as unknown as Uint8Array[];
    expect(Buffer.from(left).equals(Buffer.from(greeting.caller))).toBe(true);
    expect(Buffer.from(right).equals(Buffer.from(greeting.agent))).toBe(true);

    // A call with no recording is a 404 (looked up in the bucket, not redirected blindly).
    expect((await gateway.get('/v1/calls/CAnothing/recording')).status).toBe(404);
    expect(logged(gateway, 'recording uploaded', callSid)).toHaveLength(1);
    expect(JSON.stringify(gateway.logs)).not.toContain(AWS_SECRET);

    // With the store gone, the route says so (502), rather than a 404 or a redirect to nowhere.
    await s3.stop();
    const down = await gateway.get(`/v1/calls/${callSid}/recording`);
    expect(down.status).toBe(502);
    expect(JSON.stringify(down.body)).toContain('VL_ERR_RECORDING_STORE');
  }, 60_000);

  it('retries a failed upload on the clock and keeps the local file until the object is confirmed', async () => {
    const s3 = await s3rver([]); // no bucket yet
    const gate = new Gate(); // and at first no server either: connections are reset
    cleanups.push(() => gate.close());
    const gatePort = await gate.listen();
    const clock = new ManualClock(0, Date.now());
    const gateway = await gatewayWith(
      s3Env(`http://127.0.0.1:${gatePort}`, {
        RECORDING_UPLOAD_RETRY_BASE_MS: '1000',
        RECORDING_UPLOAD_RETRY_MAX_MS: '4000',
      }),
      [],
      { clock },
    );
    const { callSid } = await playDemo(gateway, 'greeting');
    const local = join(gateway.config.dataDir, 'recordings', `${callSid}.wav`);

    // 1: the store is unreachable.
    await eventually(
      () =>
        expect(
          logged(gateway, 'recording upload failed: the local file is kept and the upload retried', callSid),
        ).toHaveLength(1),
      20_000,
    );
    expect(gate.refused).toBeGreaterThan(0);
    expect(existsSync(local)).toBe(true);
    const recorded = readFileSync(local);
    // While the upload waits, GET …/recording serves the local file.
    const waiting = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, { redirect: 'manual' });
    expect(waiting.status).toBe(200);
    expect(Buffer.from(await waiting.arrayBuffer()).equals(recorded)).toBe(true);

    // 2: the server is up but the bucket is missing (an S3 error, not a network one).
    gate.open(s3.port);
    await clock.advance(4_000);
    const failures = await eventually(() => {
      const lines = logged(
        gateway,
        'recording upload failed: the local file is kept and the upload retried',
        callSid,
      );
      expect(lines).toHaveLength(2);
      return lines;
    }, 20_000);
    expect(failures.map((l) => l.attempts)).toEqual([1, 2]);
    expect((failures[1].err as { message: string }).message).toMatch(/VL_ERR_RECORDING_STORE|PutObject/);
    expect(existsSync(local)).toBe(true);
    expect(await readObject(s3, 'recordings', keyOf(callSid))).toBeUndefined();

    // Nothing happens until the clock says so.
    await createBucket(s3, 'recordings');
    expect(existsSync(local)).toBe(true);

    // 3: the retry succeeds; only then is the local file deleted.
    await clock.advance(4_000);
    await eventually(() => expect(logged(gateway, 'recording uploaded', callSid)).toHaveLength(1), 20_000);
    expect(existsSync(local)).toBe(false);
    const object = await readObject(s3, 'recordings', keyOf(callSid));
    expect(object?.body.equals(recorded)).toBe(true);
    expect(object?.metadata.sha256).toBe(sha256(recorded));
    expect(logged(gateway, 'recording uploaded', callSid)[0]).toMatchObject({
      attempts: 3,
      sha256: sha256(recorded),
    });

    const redirected = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, {
      redirect: 'manual',
    });
    expect(redirected.status).toBe(302);
    const played = await fetch(redirected.headers.get('location') as string);
    expect(Buffer.from(await played.arrayBuffer()).equals(recorded)).toBe(true);
  }, 60_000);

  it('uploads at the next start a recording whose upload had not been confirmed when voxline stopped', async () => {
    const s3 = await s3rver(['recordings']);
    const gate = new Gate();
    cleanups.push(() => gate.close());
    const endpoint = `http://127.0.0.1:${await gate.listen()}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'voxline-test-'));

    const first = await startGateway(s3Env(endpoint, { DATA_DIR: dataDir }));
    const { callSid } = await playDemo(first, 'greeting');
    await eventually(
      () =>
        expect(
          logged(first, 'recording upload failed: the local file is kept and the upload retried', callSid),
        ).toHaveLength(1),
      20_000,
    );
    await first.close();
    const local = join(dataDir, 'recordings', `${callSid}.wav`);
    const recorded = readFileSync(local);

    gate.open(s3.port);
    const second = await gatewayWith(s3Env(endpoint, { DATA_DIR: dataDir }));
    await eventually(() => expect(logged(second, 'recording uploaded', callSid)).toHaveLength(1), 20_000);
    expect(existsSync(local)).toBe(false);
    expect((await readObject(s3, 'recordings', keyOf(callSid)))?.body.equals(recorded)).toBe(true);
  }, 60_000);
});
