import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/access/api-tokens.js';
import { SileroVad } from '../../src/asr/vad/silero-vad.js';
import { scriptedStt } from '../doubles/scripted-stt.js';
import { eventually, type Gateway, openMediaSocket, startGateway, startMessage } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';
import { readObject, S3RVER_KEY, type S3rverProcess, startS3rver } from '../recording/support/s3rver.js';

/*
 * DELETE /v1/calls/:callSid, the right to erasure: after it, nothing of the call is left in the
 * call store, the outbox (its pending deliveries carried its transcript), the recordings folder or
 * the bucket, and every read of it is a 404; the erasure itself is in the audit log.
 */

const OPS = 'vxl_erasure-ops-token-0123456789abcdefghijklmnop';
const OPS_ENTRY = `ops:read+recordings+admin:${tokenDigest(OPS).toString('hex')}`;
const auth = { authorization: `Bearer ${OPS}` };

let vad: SileroVad;
let receiver: TestReceiver;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  vad = await SileroVad.load();
  // Every delivery fails and waits an hour to be retried: the outbox keeps the call's events pending.
  receiver = new TestReceiver();
  receiver.respond = () => ({ status: 503 });
  await receiver.listen();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await receiver.close();
  await vad.close();
});

async function gatewayWith(env: Record<string, string>): Promise<Gateway> {
  const gateway = await startGateway(
    {
      API_TOKENS: OPS_ENTRY,
      WEBHOOK_URL: receiver.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_RETRY_BASE_MS: '3600000',
      ...env,
    },
    [],
    // Transcribed, so that the call has stored transcript events (and transcript.final webhooks).
    { engine: scriptedStt(() => ({ partial: 'my card is', final: 'my card is on file' })), vad },
  );
  cleanups.push(() => gateway.close());
  return gateway;
}

/** A demo call, played and finished: transcript complete, recording written (and uploaded, with a bucket). */
async function finishedCall(gateway: Gateway, uploaded: boolean): Promise<string> {
  const { callSid } = await playDemo(gateway);
  await eventually(async () => {
    const { body } = await gateway.get(`/v1/calls/${callSid}/transcript`, auth);
    expect(body.complete).toBe(true);
    expect(body.utterances.length).toBeGreaterThan(0);
    expect((await gateway.get(`/v1/calls/${callSid}`, auth)).body.recording?.uploaded).toBe(uploaded);
  }, 20_000);
  return callSid;
}

async function del(gateway: Gateway, callSid: string, query = '') {
  const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}${query}`, {
    method: 'DELETE',
    headers: auth,
  });
  // biome-ignore lint/suspicious/noExplicitAny: checked by the assertions
  return { status: response.status, body: (await response.json()) as any };
}

/** Every read of the call answers 404. */
async function expectGone(gateway: Gateway, callSid: string): Promise<void> {
  for (const path of ['', '/transcript', '/events', '/recording']) {
    const { status, body } = await gateway.get(`/v1/calls/${callSid}${path}`, auth);
    expect(`${path} ${status} ${body.error?.code}`).toMatch(
      new RegExp(`^${path} 404 VL_ERR_(CALL|RECORDING)_NOT_FOUND$`),
    );
  }
  const { body } = await gateway.get('/v1/calls?state=all', auth);
  expect(body.calls.map((c: { callSid: string }) => c.callSid)).not.toContain(callSid);
}

function sqliteCount(path: string, table: string, callSid: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE call_sid = ?`).get(callSid) as { n: number })
      .n;
  } finally {
    db.close();
  }
}

describe('DELETE /v1/calls/:callSid on one instance (SQLite, recordings in a bucket)', () => {
  let s3: S3rverProcess;
  beforeAll(async () => {
    s3 = await startS3rver(['recordings']);
  });
  afterAll(() => s3.stop());

  const s3Env = () => ({
    RECORDING_STORE: 's3://recordings/calls',
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_KEY,
    AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
  });

  it(
    'erases the record, the transcript, the object and the pending webhook events, and leaves an audit entry',
    { timeout: 30_000 },
    async () => {
      const gateway = await gatewayWith(s3Env());
      const callSid = await finishedCall(gateway, true);
      const calls = join(gateway.config.dataDir, 'calls.db');
      const outbox = join(gateway.config.dataDir, 'voxline.db');
      const key = `calls/${callSid}.wav`;
      // Before: everything is there.
      expect(await readObject(s3, 'recordings', key)).toBeDefined();
      expect(sqliteCount(calls, 'transcript_events', callSid)).toBeGreaterThan(0);
      await eventually(() => {
        expect(sqliteCount(outbox, 'deliveries', callSid)).toBeGreaterThan(0);
        expect(receiver.requests.length).toBeGreaterThan(0);
      });

      const { status, body } = await del(gateway, callSid);
      expect(status).toBe(200);
      expect(body).toEqual({
        callSid,
        erased: {
          memory: true,
          record: 1,
          transcriptEvents: expect.any(Number),
          recordingUploadCancelled: false,
          recordingObject: true,
          recordingFile: false, // deleted already, once the upload was confirmed
          outbox: { events: expect.any(Number), deliveries: expect.any(Number), sequences: 1 },
          unreachable: [],
        },
      });
      expect(body.erased.transcriptEvents).toBeGreaterThan(0);
      expect(body.erased.outbox.deliveries).toBeGreaterThan(0);

      // After: nothing, anywhere.
      await expectGone(gateway, callSid);
      for (const table of ['calls', 'transcript_events']) expect(sqliteCount(calls, table, callSid)).toBe(0);
      for (const table of ['events', 'deliveries', 'call_seq'])
        expect(sqliteCount(outbox, table, callSid)).toBe(0);
      expect(existsSync(join(gateway.config.dataDir, 'recordings', `${callSid}.wav`))).toBe(false);
      expect(await readObject(s3, 'recordings', key)).toBeUndefined();

      // The erasure is recorded, with what it erased; a second one finds nothing (404), also recorded.
      expect((await del(gateway, callSid)).status).toBe(404);
      const audit = await gateway.get(`/v1/audit?callSid=${callSid}&action=call.delete`, auth);
      expect(audit.body.entries).toMatchObject([
        { actor: 'ops', action: 'call.delete', callSid, status: 404, detail: { memory: false, record: 0 } },
        { actor: 'ops', action: 'call.delete', callSid, status: 200, ip: '127.0.0.1', detail: body.erased },
      ]);
    },
  );

  it('refuses a live call (409) and erases nothing of it', { timeout: 30_000 }, async () => {
    const gateway = await gatewayWith(s3Env());
    const raw = await openMediaSocket(gateway);
    raw.send(startMessage('CAlive0001'));
    await eventually(async () =>
      expect((await gateway.get('/v1/calls/CAlive0001', auth)).body.state).toBe('live'),
    );
    const { status, body } = await del(gateway, 'CAlive0001');
    expect({ status, code: body.error.code }).toEqual({ status: 409, code: 'VL_ERR_CALL_LIVE' });
    expect((await gateway.get('/v1/calls/CAlive0001', auth)).status).toBe(200);
    raw.socket.close();
    await raw.closed;
  });
});

describe.skipIf(!hasPostgres)(
  'DELETE /v1/calls/:callSid in a cluster (PostgreSQL, recordings on each disk)',
  () => {
    let postgres: TestPostgres;
    beforeAll(async () => {
      postgres = await startPostgres();
    }, 120_000);
    afterAll(() => postgres.stop());

    async function count(url: string, table: string, callSid: string): Promise<number> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table} WHERE call_sid = $1`, [
          callSid,
        ]);
        return rows[0].n;
      } finally {
        await client.end();
      }
    }

    it(
      'is refused by an instance that does not hold the call, and done by the one that does, from the shared rows to its disk',
      { timeout: 30_000 },
      async () => {
        const url = await postgres.database();
        const a = await gatewayWith({ DATABASE_URL: url, INSTANCE_ID: 'a' });
        const b = await gatewayWith({ DATABASE_URL: url, INSTANCE_ID: 'b' });
        const callSid = await finishedCall(a, false);
        const file = join(a.config.dataDir, 'recordings', `${callSid}.wav`);
        expect(existsSync(file)).toBe(true);
        await eventually(async () => expect(await count(url, 'deliveries', callSid)).toBeGreaterThan(0));

        // b reads the call from the shared store, but cannot reach a's memory or disk.
        const refused = await del(b, callSid);
        expect(refused.status).toBe(409);
        expect(refused.body.error.code).toBe('VL_ERR_CALL_ELSEWHERE');
        expect(refused.body.error.message).toContain('held in the memory of a');
        expect((await b.get(`/v1/calls/${callSid}`, auth)).status).toBe(200);

        const { status, body } = await del(a, callSid);
        expect(status).toBe(200);
        expect(body.erased).toMatchObject({ memory: true, record: 1, recordingFile: true, unreachable: [] });
        for (const gateway of [a, b]) await expectGone(gateway, callSid);
        expect(existsSync(file)).toBe(false);
        for (const table of ['calls', 'transcript_events', 'events', 'deliveries', 'call_seq']) {
          expect(`${table} ${await count(url, table, callSid)}`).toBe(`${table} 0`);
        }
        // One audit log for the cluster: both attempts, each with the instance that served it.
        const { body: audit } = await b.get(`/v1/audit?callSid=${callSid}&action=call.delete`, auth);
        expect(audit.entries).toMatchObject([
          { instance: 'a', status: 200 },
          { instance: 'b', status: 409 },
        ]);
      },
    );

    it(
      'with ?force=true erases what it reaches and lists what it cannot; the holder finishes the job',
      { timeout: 30_000 },
      async () => {
        const url = await postgres.database();
        const a = await gatewayWith({ DATABASE_URL: url, INSTANCE_ID: 'a' });
        const b = await gatewayWith({ DATABASE_URL: url, INSTANCE_ID: 'b' });
        const callSid = await finishedCall(a, false);
        const forced = await del(b, callSid, '?force=true');
        expect(forced.status).toBe(200);
        expect(forced.body.erased).toMatchObject({
          memory: false,
          record: 1,
          recordingFile: false,
          unreachable: ['held in the memory of a', 'recording file on the disk of a'],
        });
        expect(await count(url, 'calls', callSid)).toBe(0);
        // a still has it in memory and on disk, until it is asked too.
        expect((await a.get(`/v1/calls/${callSid}`, auth)).status).toBe(200);
        const finished = await del(a, callSid);
        expect(finished.body.erased).toMatchObject({ memory: true, record: 0, recordingFile: true });
        await expectGone(a, callSid);
      },
    );
  },
);
