import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SileroVad } from '../../src/asr/vad/silero-vad.js';
import { scriptedStt } from '../doubles/scripted-stt.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { keyValue, type RawDatabase, rawPostgres, rawSqlite } from '../helpers/sealed-stores.js';
import { SECRET, TestReceiver } from '../helpers/webhooks.js';

/*
 * ENCRYPTION_KEY through the whole service: a transcribed call's words and parameters are in no
 * byte of the stores on disk (SQLite files and WAL; PostgreSQL rows read raw), yet the API and
 * the webhook receiver get them; a stored row that does not open, or a key taken away, answers
 * 500 with the code for that call.
 */

const SAID = 'the marmalade ships from penzance';
const SECRETS = ['marmalade', 'penzance', 'zebra-4471'];
const KEY = keyValue('k1');

let vad: SileroVad;
let receiver: TestReceiver;
let postgres: TestPostgres | undefined;
const cleanups: (() => Promise<void>)[] = [];
/** Gateways still running (a test closes each before the next opens the same store). */
const running = new Set<Gateway>();
beforeAll(async () => {
  vad = await SileroVad.load();
  receiver = new TestReceiver();
  await receiver.listen();
  if (hasPostgres) postgres = await startPostgres();
}, 120_000);
afterEach(async () => {
  for (const gateway of running) await stop(gateway);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await receiver.close();
  await vad.close();
  await postgres?.stop();
});

async function gatewayWith(env: Record<string, string>): Promise<Gateway> {
  const gateway = await startGateway({ WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, ...env }, [], {
    engine: scriptedStt(() => ({ partial: 'the marmalade', final: SAID })),
    vad,
  });
  running.add(gateway);
  return gateway;
}

async function stop(gateway: Gateway): Promise<void> {
  running.delete(gateway);
  await gateway.close();
}

/** A demo call played to its end: its transcript complete, its transcript.final webhooks received. */
async function finishedCall(gateway: Gateway): Promise<string> {
  const { callSid } = await playDemo(gateway, 'greeting', { customParameters: { account: 'zebra-4471' } });
  await eventually(async () => {
    const { body } = await gateway.get(`/v1/calls/${callSid}/transcript`);
    expect(body.complete).toBe(true);
    expect(receiver.events.filter((e) => e.callSid === callSid).map((e) => e.type)).toContain('call.ended');
  }, 20_000);
  const finals = receiver.events.filter((e) => e.callSid === callSid && e.type === 'transcript.final');
  expect(finals.map((e) => e.data.text)).toContain(SAID);
  return callSid;
}

/** What the API says of a call the gateway does not hold (read from the store). */
async function expectStored(gateway: Gateway, callSid: string): Promise<void> {
  const transcript = await gateway.get(`/v1/calls/${callSid}/transcript`);
  expect(transcript.status).toBe(200);
  expect(transcript.body.utterances.map((u: { text: string }) => u.text)).toContain(SAID);
  const record = await gateway.get(`/v1/calls/${callSid}`);
  expect(record.body.customParameters).toEqual({ account: 'zebra-4471' });
}

/** Moves the call's stored transcript events to other seqs: each body is now in another row. */
async function moveEvents(raw: RawDatabase, callSid: string): Promise<void> {
  const [{ n } = { n: 0 }] = await raw.query(
    'SELECT count(*) AS n FROM transcript_events WHERE call_sid = $1',
    callSid,
  );
  expect(Number(n)).toBeGreaterThan(0);
  await raw.run('UPDATE transcript_events SET seq = seq + 1000 WHERE call_sid = $1', callSid);
}

async function expectError(gateway: Gateway, path: string, code: string): Promise<void> {
  const { status, body } = await gateway.get(path);
  expect(`${status} ${body.error?.code}`).toBe(`500 ${code}`);
}

describe('ENCRYPTION_KEY: a transcribed call on one instance (SQLite)', () => {
  it(
    'leaves its words in no byte of calls.db, voxline.db or their WAL; the API reads them; a moved row or no key is a 500 with the code',
    { timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'voxline-sealed-'));
      const first = await gatewayWith({ DATA_DIR: dataDir, ENCRYPTION_KEY: KEY });
      const callSid = await finishedCall(first);
      await stop(first);
      const files = readdirSync(dataDir).filter((f) => /\.db(-wal)?$/.test(f));
      expect(files).toEqual(expect.arrayContaining(['calls.db', 'voxline.db']));
      const bytes = files.map((f) => readFileSync(join(dataDir, f)).toString('latin1')).join('\n');
      for (const secret of SECRETS) expect(bytes).not.toContain(secret);

      // Restarted: nothing in memory, everything read from the sealed store.
      const again = await gatewayWith({ DATA_DIR: dataDir, ENCRYPTION_KEY: KEY });
      await expectStored(again, callSid);
      await stop(again);
      // The key taken away: the call's reads are the error, not garbage.
      const keyless = await gatewayWith({ DATA_DIR: dataDir });
      await expectError(keyless, `/v1/calls/${callSid}`, 'VL_ERR_ENCRYPTION_KEY');
      await expectError(keyless, '/v1/calls?state=all', 'VL_ERR_ENCRYPTION_KEY');
      await stop(keyless);
      // A stored event moved to another row does not open: that read is the error.
      const calls = rawSqlite(join(dataDir, 'calls.db'));
      await moveEvents(calls, callSid);
      const tampered = await gatewayWith({ DATA_DIR: dataDir, ENCRYPTION_KEY: KEY });
      await expectError(tampered, `/v1/calls/${callSid}/transcript`, 'VL_ERR_DECRYPTION');
      expect((await tampered.get(`/v1/calls/${callSid}`)).status).toBe(200);
      // Erased: its key rows go too (crypto-shredding), in both databases.
      const outbox = rawSqlite(join(dataDir, 'voxline.db'));
      const keyRows = async () => [
        ...(await calls.query('SELECT key_id FROM call_keys WHERE call_sid = $1', callSid)),
        ...(await outbox.query('SELECT key_id FROM outbox_keys WHERE call_sid = $1', callSid)),
      ];
      expect(await keyRows()).toEqual([{ key_id: 'k1' }, { key_id: 'k1' }]);
      const erased = await fetch(`${tampered.baseUrl}/v1/calls/${callSid}`, { method: 'DELETE' });
      expect(erased.status).toBe(200);
      await stop(tampered);
      expect(await keyRows()).toEqual([]);
    },
  );
});

describe.skipIf(!hasPostgres)('ENCRYPTION_KEY: a transcribed call in a cluster (PostgreSQL)', () => {
  it(
    'leaves its words in no row read raw (SELECT body::text …); another instance with the key reads them; a moved row is a 500 with the code',
    { timeout: 60_000 },
    async () => {
      const url = await (postgres as TestPostgres).database();
      const a = await gatewayWith({ DATABASE_URL: url, ENCRYPTION_KEY: KEY, INSTANCE_ID: 'a' });
      const callSid = await finishedCall(a);
      const raw = rawPostgres(url);
      cleanups.push(() => raw.close());
      const bodies = await raw.query(
        `SELECT body::text AS t FROM transcript_events UNION ALL SELECT snapshot::text FROM calls
         UNION ALL SELECT body::text FROM events`,
      );
      expect(bodies.length).toBeGreaterThan(3);
      const text = `${bodies.map((r) => r.t).join('\n')}\n${await raw.text(['calls', 'transcript_events', 'events', 'deliveries', 'call_keys', 'outbox_keys'])}`;
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(bodies.every((r) => String(r.t).startsWith('vx1:'))).toBe(true);

      const b = await gatewayWith({ DATABASE_URL: url, ENCRYPTION_KEY: KEY, INSTANCE_ID: 'b' });
      await expectStored(b, callSid);
      await moveEvents(raw, callSid);
      // b cached the call's key on its first read: the moved rows still fail, with the code.
      await expectError(b, `/v1/calls/${callSid}/transcript`, 'VL_ERR_DECRYPTION');
    },
  );
});
