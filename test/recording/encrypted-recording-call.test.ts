import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { tokenDigest } from '../../src/access/api-tokens.js';
import { SEALED_CONTENT_TYPE } from '../../src/recording/object-store.js';
import { keyValue } from '../crypto/support/keys.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';
import { wavMarkers } from './support/riff.js';
import { readObject, S3RVER_KEY, startS3rver } from './support/s3rver.js';

/*
 * A real gateway, a simulated Twilio call, ENCRYPTION_KEY set: the recording is sealed on disk and
 * in the bucket, and served decrypted, byte for byte the WAV recording.ready describes.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = keyValue('k2026');
const KEY_BYTES = KEY.slice(KEY.indexOf(':') + 1);
const OPS = 'vxl_sealed-ops-token-0123456789abcdefghijklmnop';
const auth = { authorization: `Bearer ${OPS}` };
const greeting = demoCall('greeting');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayWith(
  env: Record<string, string>,
): Promise<{ gateway: Gateway; receiver: TestReceiver }> {
  const receiver = new TestReceiver();
  cleanups.push(() => receiver.close());
  const gateway = await startGateway({
    RECORDING_FORMAT: 'mulaw',
    ENCRYPTION_KEY: KEY,
    API_TOKENS: `ops:read+recordings+admin:${tokenDigest(OPS).toString('hex')}`,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    ...env,
  });
  cleanups.push(() => gateway.close());
  return { gateway, receiver };
}

function readyEvent(receiver: TestReceiver, callSid: string): Promise<Event> {
  return eventually(() => {
    const event = receiver.events.find((e) => e.type === 'recording.ready' && e.callSid === callSid);
    expect(event).toBeDefined();
    return event as Event;
  }, 20_000);
}

/**
 * GET …/recording, read in full, and then until the server says it finished the response: a
 * client holding the whole Content-Length can be a moment ahead of that, and a server closing
 * meanwhile would wait out the keep-alive of a connection it saw busy.
 */
async function getRecording(gateway: Gateway, callSid: string) {
  const path = `/v1/calls/${callSid}/recording`;
  const served = () => gateway.logs.filter((l) => l.msg === 'request' && l.path === path).length;
  const before = served();
  const response = await fetch(`${gateway.baseUrl}${path}`, { headers: auth, redirect: 'manual' });
  const body = Buffer.from(await response.arrayBuffer());
  await eventually(() => expect(served()).toBe(before + 1));
  return { response, body };
}

/** Caller left, agent right: exactly what each leg sent. */
function expectGreeting(wav: Buffer): void {
  const parsed = new WaveFile(wav);
  expect(parsed.fmt).toMatchObject({ audioFormat: 7, numChannels: 2, sampleRate: 8000 });
  const [left, right] = parsed.getSamples(false, Uint8Array) as unknown as Uint8Array[];
  expect(Buffer.from(left).equals(Buffer.from(greeting.caller))).toBe(true);
  expect(Buffer.from(right).equals(Buffer.from(greeting.agent))).toBe(true);
}

/** Neither a WAV nor any of the caller's audio: no aligned 32-byte block of it (so no 64-byte run). */
function expectSealed(bytes: Buffer): void {
  expect(bytes.subarray(0, 7).toString('latin1')).toBe('VXREC1\0');
  expect(bytes.includes('RIFF')).toBe(false);
  const audio = Buffer.from(greeting.caller);
  for (let at = 0; at + 32 <= audio.length; at += 32)
    expect(bytes.indexOf(audio.subarray(at, at + 32))).toBe(-1);
}

function decryptCli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/recording/decrypt-recording.ts', ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env },
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('encrypted recordings (ENCRYPTION_KEY), through a real gateway', () => {
  it('the file on disk is sealed; GET …/recording and the CLI give the exact WAV recording.ready describes', async () => {
    const { gateway, receiver } = await gatewayWith({});
    const { callSid } = await playDemo(gateway, 'greeting');
    const ready = await readyEvent(receiver, callSid);
    expect(schemaValidator()(ready)).toEqual([]);
    expect(ready.data.encrypted).toEqual({ keyId: 'k2026' });

    const path = join(gateway.config.dataDir, 'recordings', `${callSid}.wav`);
    const onDisk = readFileSync(path);
    expectSealed(onDisk);

    const { response, body } = await getRecording(gateway, callSid);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    expect(Number(response.headers.get('content-length'))).toBe(ready.data.bytes);
    expect(sha256(body)).toBe(ready.data.sha256);
    expect(body.length).toBe(ready.data.bytes);
    expectGreeting(body);
    // The call's record keeps the WAV's sha256 too (what another instance would check against).
    expect((await gateway.get(`/v1/calls/${callSid}`, auth)).body.recording).toMatchObject({
      sha256: ready.data.sha256,
      bytes: ready.data.bytes,
    });

    // npm run recording:decrypt on the very file: the same WAV, and no key on its output.
    const out = join(mkdtempSync(join(tmpdir(), 'voxline-decrypt-')), 'call.wav');
    const cli = await decryptCli([path, out], { ENCRYPTION_KEY: KEY });
    expect(cli.code, cli.stderr).toBe(0);
    expect(readFileSync(out).equals(body)).toBe(true);
    expect(cli.stderr).toContain('key k2026');
    expect(cli.stderr).not.toContain(KEY_BYTES);

    expect(JSON.stringify(gateway.logs)).not.toContain(KEY_BYTES);
  }, 60_000);

  it('a pause mid-call is silence in the recording and a labelled region in its markers, sealed as well', async () => {
    const { gateway, receiver } = await gatewayWith({});
    const playing = playDemo(gateway, 'greeting', { pace: 'realtime' });
    const call = await eventually(() => {
      const [live] = gateway.app.registry.live();
      expect(gateway.tap.frames(live.callSid, 'caller').length).toBeGreaterThan(75); // 1.5 s in
      return live;
    }, 10_000);
    // Bodies read in full: a response left unread holds its connection, and the server's close waits on it.
    const post = async (action: string) => {
      const r = await fetch(`${gateway.baseUrl}/v1/calls/${call.callSid}/${action}`, {
        method: 'POST',
        headers: auth,
      });
      return { status: r.status, body: (await r.json()) as { pauses: { startMs: number; endMs: number }[] } };
    };
    expect((await post('pause')).status).toBe(200);
    await eventually(
      () => expect(gateway.tap.frames(call.callSid, 'caller').length).toBeGreaterThan(150),
      10_000,
    );
    const resumed = await post('resume');
    expect(resumed.status).toBe(200);
    await playing;
    await readyEvent(receiver, call.callSid);

    const { response, body } = await getRecording(gateway, call.callSid);
    expect(response.status).toBe(200);
    const [pause] = resumed.body.pauses;
    const start = Math.round(pause.startMs * 8);
    const length = Math.round(pause.endMs * 8) - start;
    expect(length).toBeGreaterThan(8_000 * 0.5);
    expect(wavMarkers(body)).toEqual({
      cues: [{ id: 1, position: start, chunk: 'data', sampleOffset: start }],
      regions: [{ id: 1, length, purpose: 'rgn ' }],
      labels: [{ id: 1, text: 'paused by api' }],
    });
    // The region is where the file is silent; before it, the caller's own audio.
    const [left] = new WaveFile(body).getSamples(false, Uint8Array) as unknown as Uint8Array[];
    const frame = 160;
    expect(left.subarray(start + frame, start + length - frame).every((b) => b === 0xff)).toBe(true);
    expect(
      Buffer.from(left.subarray(0, start - frame)).equals(
        Buffer.from(greeting.caller.subarray(0, start - frame)),
      ),
    ).toBe(true);
    expectSealed(readFileSync(join(gateway.config.dataDir, 'recordings', `${call.callSid}.wav`)));
  }, 30_000);

  it('with RECORDING_STORE=s3://…: the object is sealed, GET streams it decrypted (no presigned URL), erasure deletes it', async () => {
    const s3 = await startS3rver(['recordings']);
    cleanups.push(() => s3.stop());
    const { gateway, receiver } = await gatewayWith({
      RECORDING_STORE: 's3://recordings/calls',
      S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: 'aws-secret-0123456789abcdef',
    });
    const { callSid } = await playDemo(gateway, 'greeting');
    const ready = await readyEvent(receiver, callSid);
    const key = `calls/${callSid}.wav`;
    expect(ready.data).toMatchObject({ url: `s3://recordings/${key}`, encrypted: { keyId: 'k2026' } });

    // In the bucket: the sealed bytes, checked by their own sha256; stored as not-a-WAV.
    const object = await eventually(async () => {
      const found = await readObject(s3, 'recordings', key);
      expect(found).toBeDefined();
      return found as NonNullable<typeof found>;
    }, 20_000);
    expectSealed(object.body);
    expect(object.metadata.sha256).toBe(sha256(object.body));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'recordings', Key: key }));
    expect(head.ContentType).toBe(SEALED_CONTENT_TYPE);
    const local = join(gateway.config.dataDir, 'recordings', `${callSid}.wav`);
    await eventually(() => expect(existsSync(local)).toBe(false), 10_000); // confirmed, so deleted

    const { response, body } = await getRecording(gateway, callSid);
    expect(response.status).toBe(200); // not a 302: a presigned URL would hand out ciphertext
    expect(response.headers.get('location')).toBeNull();
    expect(sha256(body)).toBe(ready.data.sha256);
    expectGreeting(body);

    const erased = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}`, { method: 'DELETE', headers: auth });
    expect(erased.status).toBe(200);
    expect(((await erased.json()) as { erased: { recordingObject: boolean } }).erased.recordingObject).toBe(
      true,
    );
    expect(await readObject(s3, 'recordings', key)).toBeUndefined();
    expect((await getRecording(gateway, callSid)).response.status).toBe(404);
  }, 60_000);
});
