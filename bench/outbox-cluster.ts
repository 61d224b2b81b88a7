/**
 * Webhook delivery with one, two and three voxline instances on one PostgreSQL database.
 *
 * For each instance count: a backlog of EVENTS events over CALLS calls is committed to a fresh
 * database's outbox (as the instances' publishers would have), then that many real voxline
 * processes (src/main.ts with DATABASE_URL and WEBHOOK_URL, as `npm start` runs) start and deliver
 * it to one receiver in this process. The receiver holds every request until all instances are
 * listening, so the figure (events delivered per second, from then to the last one) is the
 * instances working together, not their start-up. It also checks what the design promises: each
 * event once, each call's events in seq order.
 *
 * Run: npx tsx bench/outbox-cluster.ts (EVENTS=6000 CALLS=100 CONCURRENCY=8 INSTANCES=1,2,3).
 * Everything shares this machine: PostgreSQL, the receiver and every instance.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openPool } from '../src/store/postgres.js';
import type { EventData } from '../src/webhooks/event-schemas.js';
import { OUTBOX_POOL, PostgresOutboxStore } from '../src/webhooks/postgres-outbox-store.js';
import { type Instance, startInstance } from '../test/cluster/instance.js';
import { hasPostgres, startPostgres } from '../test/helpers/postgres.js';
import { machine } from './lib.js';

const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const PARTIAL: EventData<'transcript.partial'> = {
  speaker: 'caller',
  utteranceId: 1,
  text: 'I would like to change my',
  startMs: 2_110,
  audioMs: 3_200,
};

export interface ClusterRun {
  readonly instances: number;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
}

/** One receiver: holds requests until `open`, then answers 204 and keeps count. */
function receiver(total: number) {
  const seen = new Set<string>();
  const lastSeq = new Map<string, number>();
  const held: [IncomingMessage, ServerResponse, Buffer][] = [];
  let open = false;
  let duplicates = 0;
  let outOfOrder = 0;
  let lastAt = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const id = String(req.headers['webhook-id']);
    const { callSid, seq } = JSON.parse(body.toString()) as { callSid: string; seq: number };
    if (seen.has(id)) duplicates++;
    else {
      seen.add(id);
      if (seq !== (lastSeq.get(callSid) ?? 0) + 1) outOfOrder++;
      lastSeq.set(callSid, seq);
    }
    res.writeHead(204).end();
    lastAt = performance.now();
    if (seen.size === total) done();
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (open) answer(req, res, Buffer.concat(chunks));
      else held.push([req, res, Buffer.concat(chunks)]);
    });
  });
  return {
    server,
    finished,
    get lastAt() {
      return lastAt;
    },
    get counts() {
      return { duplicates, outOfOrder };
    },
    open() {
      open = true;
      for (const [req, res, body] of held.splice(0)) answer(req, res, body);
    },
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    },
  };
}

async function fill(url: string, calls: number, events: number): Promise<void> {
  const store = await PostgresOutboxStore.open(openPool(url, 10, OUTBOX_POOL));
  const now = Date.now();
  const appends = [];
  for (let i = 0; i < events; i++)
    appends.push(store.append(`CAbench${i % calls}`, 'transcript.partial', PARTIAL, ['env'], now));
  await Promise.all(appends);
  await store.close();
}

export async function benchOutboxCluster(
  counts = (process.env.INSTANCES ?? '1,2,3').split(',').map(Number),
  events = Number(process.env.EVENTS ?? 6_000),
  calls = Number(process.env.CALLS ?? 100),
): Promise<ClusterRun[]> {
  const postgres = await startPostgres({ fsync: true });
  const runs: ClusterRun[] = [];
  try {
    for (const n of counts) {
      const url = await postgres.database();
      await fill(url, calls, events);
      const hooks = receiver(events);
      const env = {
        DATABASE_URL: url,
        WEBHOOK_URL: await hooks.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_CONCURRENCY: process.env.CONCURRENCY ?? '8',
        ASR_ENGINE: 'none',
        TWILIO_VALIDATE: 'false',
        RECORDING_FORMAT: 'none',
      };
      const instances: Instance[] = await Promise.all(Array.from({ length: n }, () => startInstance(env)));
      const t0 = performance.now();
      hooks.open();
      await hooks.finished;
      const seconds = (hooks.lastAt - t0) / 1000;
      await Promise.all(instances.map((i) => i.kill('SIGTERM')));
      hooks.server.close();
      runs.push({ instances: n, events, seconds, eventsPerSecond: events / seconds, ...hooks.counts });
    }
  } finally {
    await postgres.stop();
  }
  return runs;
}

export function outboxClusterTable(runs: readonly ClusterRun[]): string {
  return [
    '| instances | backlog delivered | time | events/s | delivered twice | out of order |',
    '|---|---|---|---|---|---|',
    ...runs.map(
      (r) =>
        `| ${r.instances} | ${r.events} | ${r.seconds.toFixed(1)} s | **${Math.round(r.eventsPerSecond)}** | ${r.duplicates} | ${r.outOfOrder} |`,
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!hasPostgres) {
    console.error('PostgreSQL (initdb, pg_ctl) is not installed: nothing to measure');
    process.exit(1);
  }
  console.log(`webhook delivery, instances sharing one PostgreSQL (${machine()})`);
  console.log(outboxClusterTable(await benchOutboxCluster()));
  process.exit(0);
}
