import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { demoCall } from '../helpers/media.js';
import { hasPostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Instance, startInstance } from './instance.js';

/*
 * Several voxline processes on one PostgreSQL database. Instance A takes calls while the receiver
 * is down, commits their events and is killed with SIGKILL mid-retry; B and C, started after,
 * deliver every one of A's events once A's leases run out: each exactly once (no two live
 * instances double a delivery), each call's events in seq order with no gap.
 */

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

interface Received {
  readonly id: string;
  readonly callSid: string;
  readonly seq: number;
  readonly type: string;
  readonly acknowledged: boolean;
}

/** A webhook receiver that answers 503 until `up`, then 204; it keeps every request it got. */
function receiver() {
  const requests: Received[] = [];
  let up = false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        callSid: string;
        seq: number;
        type: string;
      };
      requests.push({
        id: String(req.headers['webhook-id']),
        callSid: body.callSid,
        seq: body.seq,
        type: body.type,
        acknowledged: up,
      });
      res.writeHead(up ? 204 : 503).end();
    });
  });
  return {
    requests,
    server,
    setUp() {
      up = true;
    },
    async listen(): Promise<string> {
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    },
  };
}

async function until(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!hasPostgres)(
  'three voxline instances on one PostgreSQL outbox',
  { timeout: 180_000 },
  () => {
    let postgres: TestPostgres;
    const instances: Instance[] = [];
    beforeAll(async () => {
      postgres = await startPostgres();
    }, 120_000);
    afterAll(async () => {
      await Promise.all(instances.map((i) => i.kill('SIGKILL')));
      await postgres?.stop();
    });

    it('a killed instance’s undelivered events are delivered by the others, once each, in order per call', async () => {
      const url = await postgres.database();
      const hooks = receiver();
      const env = {
        DATABASE_URL: url,
        WEBHOOK_URL: await hooks.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_LEASE_MS: '3000',
        WEBHOOK_RETRY_BASE_MS: '100',
        WEBHOOK_RETRY_MAX_MS: '400',
        ASR_ENGINE: 'none',
        TWILIO_VALIDATE: 'false',
        RECORDING_FORMAT: 'none',
      };
      const a = await startInstance(env);
      instances.push(a);
      const call = demoCall('greeting');
      const calls = ['CAtakeover1', 'CAtakeover2', 'CAtakeover3'];
      for (const callSid of calls) {
        const result = await simulateTwilioCall({
          url: a.mediaUrl,
          callSid,
          caller: call.caller,
          agent: call.agent,
          pace: 'fast',
          dtmf: [
            { atMs: 100, digit: '1' },
            { atMs: 200, digit: '2' },
          ],
        });
        expect(result.refused).toBeUndefined();
      }
      // A has committed every event of the three calls (call.started, two dtmf, call.ended each)
      // and has been failing to deliver them.
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      await until(async () => {
        const { rows } = await db.query("SELECT count(*)::int AS n FROM events WHERE type = 'call.ended'");
        return rows[0].n === calls.length;
      }, 'the three calls to end on A');
      await until(() => hooks.requests.length >= 3, 'A to attempt deliveries');
      expect(await a.kill('SIGKILL')).toBeNull();
      const { rows: committed } = await db.query<{ call_sid: string; seq: number; id: string }>(
        'SELECT call_sid, seq, id FROM events ORDER BY call_sid, seq',
      );
      expect(committed.length).toBe(12);
      const { rows: pending } = await db.query(
        "SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'",
      );
      expect(pending[0].n).toBe(12);

      hooks.setUp();
      instances.push(await startInstance(env), await startInstance(env));
      const acked = () => hooks.requests.filter((r) => r.acknowledged);
      await until(() => acked().length >= committed.length, 'B and C to deliver every event');
      // Every delivery finished: no claim is left that could send one of them again.
      await until(async () => {
        const { rows } = await db.query(
          "SELECT count(*)::int AS n FROM deliveries WHERE status = 'delivered'",
        );
        return rows[0].n === committed.length;
      }, 'every delivery to be marked delivered');

      const ids = acked().map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length); // once each
      expect(ids.sort()).toEqual(committed.map((e) => String(e.id)).sort()); // every committed event
      for (const callSid of calls) {
        const order = acked()
          .filter((r) => r.callSid === callSid)
          .map((r) => [r.seq, r.type]);
        expect(order).toEqual([
          [1, 'call.started'],
          [2, 'dtmf'],
          [3, 'dtmf'],
          [4, 'call.ended'],
        ]);
      }
      await db.end();
      hooks.server.close();
    });
  },
);
