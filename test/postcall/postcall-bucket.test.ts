import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyValue } from '../crypto/support/keys.js';
import { MistralBatchDouble } from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';
import { S3RVER_KEY, startS3rver } from '../recording/support/s3rver.js';

/*
 * A sealed recording (ENCRYPTION_KEY) uploaded to a real S3-compatible server and deleted from
 * disk: post-call work picked up after a restart reads it from the bucket, decrypted, and the
 * engine hears the call's audio.
 */

const KEY = 'mk-bucket-key';
const TOKEN = 'postcall-bucket-token-0123456789';
const call = demoCall('greeting');
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe('post-call work on a sealed recording in the bucket', () => {
  it('reads it from the bucket, decrypted, once the local file is gone', { timeout: 90_000 }, async () => {
    const s3 = await startS3rver(['recordings']);
    const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
    await vllm.listen();
    const batch = new MistralBatchDouble(KEY);
    await batch.listen();
    const receiver = new TestReceiver();
    const dataDir = mkdtempSync(join(tmpdir(), 'voxline-postcall-bucket-'));
    const env = {
      ADMIN_TOKEN: TOKEN,
      DATA_DIR: dataDir,
      VLLM_URL: vllm.url,
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_EVENTS: 'transcript.refined,postcall.failed',
      RECORDING_FORMAT: 'mulaw',
      ENCRYPTION_KEY: keyValue('k2026'),
      RECORDING_STORE: 's3://recordings/calls',
      S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: 'aws-secret-0123456789abcdef',
      POSTCALL_ENGINE: 'mistral',
      POSTCALL_BASE_URL: batch.url,
      POSTCALL_API_KEY: KEY,
      SHUTDOWN_DRAIN_MS: '200',
    };
    let gateway: Gateway | undefined;
    cleanups.push(
      async () => gateway?.close(),
      async () => {
        await Promise.all([vllm.close(), batch.close(), receiver.close(), s3.stop()]);
      },
    );
    // The first process: the engine never answers; the upload is confirmed and the file deleted.
    batch.answer({ kind: 'hang' });
    gateway = await startGateway(env);
    const gw = gateway;
    const { callSid } = await playDemo(gw, 'greeting');
    await batch.received(0);
    await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}`, { authorization: `Bearer ${TOKEN}` });
      expect(body.recording?.uploaded).toBe(true);
    }, 20_000);
    await eventually(() => expect(existsSync(join(dataDir, 'recordings', `${callSid}.wav`))).toBe(false));
    await gateway.close();
    gateway = undefined;

    // The next process reads the object, opens it with the key, and sends each channel.
    batch.answerBy(() => ({
      kind: 'transcription',
      segments: [{ text: ' Hello world.', start: 0.3, end: 1.7 }],
    }));
    gateway = await startGateway(env);
    await eventually(
      () => expect(receiver.events.filter((e) => e.type === 'transcript.refined')).toHaveLength(1),
      20_000,
    );
    expect(receiver.events.some((e) => e.type === 'postcall.failed')).toBe(false);
    // The first try, then one request per channel from the bucket's copy: a plain mono WAV, the call's length.
    const sent = batch.requests.slice(1);
    expect(sent).toHaveLength(2);
    for (const request of sent) {
      const wav = request.parts.find((p) => p.name === 'file')?.bytes as Buffer;
      expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
      expect(wav.readUInt32LE(24)).toBe(8_000);
      expect(((wav.length - 44) / 16_000) * 1000).toBeGreaterThan(call.durationMs - 500);
    }
  });
});
