/**
 * Webhook outbox, on SQLite and on PostgreSQL side by side: (1) durable appends per second: 100
 * calls each appending its next event once the last is committed, through the store's group commit
 * (event row + delivery row, seq assigned), and for SQLite one fsynced transaction per event (the
 * old path) beside it; (2) delivery latency, event committed → received, at 100 live calls each
 * emitting transcript events (a final every 2 s per leg and the partials between, 5 a second per
 * leg) to one real HTTP receiver on loopback, through the real Dispatcher. PostgreSQL is
 * BENCH_DATABASE_URL, else a throwaway local server with fsync on (test/helpers/postgres.ts).
 * With ENCRYPTION_KEY (id:base64, npm run key:new) every store seals its bodies, as the server does.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { encryptionConfigFrom } from '../src/crypto/encryption-config.js';
import { Keyring } from '../src/crypto/keyring.js';
import { openPool } from '../src/store/postgres.js';
import { Dispatcher } from '../src/webhooks/dispatcher.js';
import type { EventData } from '../src/webhooks/event-schemas.js';
import { Outbox } from '../src/webhooks/outbox.js';
import type { OutboxStore } from '../src/webhooks/outbox-store.js';
import { OUTBOX_POOL, PostgresOutboxStore } from '../src/webhooks/postgres-outbox-store.js';
import { SqliteOutboxStore } from '../src/webhooks/sqlite-outbox-store.js';
import type { WebhookConfig } from '../src/webhooks/webhook-config.js';
import { hasPostgres, startPostgres } from '../test/helpers/postgres.js';
import { machine, percentile } from './lib.js';

const FINAL: EventData<'transcript.final'> = {
  speaker: 'caller',
  utteranceId: 1,
  text: 'he was not an ill disposed young man',
  startMs: 2_110,
  endMs: 4_690,
  words: 'he was not an ill disposed young man'
    .split(' ')
    .map((word, i) => ({ word, startMs: 2_110 + i * 300, endMs: 2_400 + i * 300 })),
  recovered: false,
  engine: 'vllm',
};
const PARTIAL: EventData<'transcript.partial'> = {
  speaker: 'caller',
  utteranceId: 1,
  text: 'he was not an',
  startMs: 2_110,
  audioMs: 3_200,
};

/** The stores' keyring, as the server builds it from ENCRYPTION_KEY (undefined: in clear). */
function benchKeyring(): Keyring | undefined {
  const { value, problems } = encryptionConfigFrom({ ENCRYPTION_KEY: process.env.ENCRYPTION_KEY });
  if (problems.length > 0) throw new Error(problems.join('; '));
  return value && new Keyring(value);
}

interface LiveRun {
  readonly partials: boolean;
  readonly eventsPerSecond: number;
  readonly delivered: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

export interface StoreBench {
  readonly store: 'SQLite' | 'PostgreSQL';
  /** Group commit, 100 calls appending at once, OUTBOX_SYNC=full (SQLite) / fsync on (PostgreSQL). */
  readonly appendsPerSecond: number;
  readonly runs: readonly LiveRun[];
}

export interface OutboxBench {
  /** Bodies sealed at rest (ENCRYPTION_KEY). */
  readonly sealed: boolean;
  /** SQLite, one fsynced transaction per event (no group commit), for comparison. */
  readonly singleAppendsPerSecond: number;
  readonly liveCalls: number;
  readonly stores: readonly StoreBench[];
}

/** `calls` calls, each appending its next final once its last is committed, `total` in all. */
async function groupAppends(store: OutboxStore, calls: number, total: number): Promise<number> {
  const t0 = performance.now();
  let left = total;
  await Promise.all(
    Array.from({ length: calls }, async (_, c) => {
      while (left-- > 0) await store.append(`CA${c}`, 'transcript.final', FINAL, ['receiver'], Date.now());
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

export async function benchOutbox(
  calls = 100,
  seconds = Number(process.env.SECONDS ?? 10),
): Promise<OutboxBench> {
  const dir = mkdtempSync(join(tmpdir(), 'voxline-bench-outbox-'));
  const keyring = benchKeyring();
  const single = new Outbox(join(dir, 'single.db'), 'full', keyring);
  const t0 = performance.now();
  for (let i = 0; i < 3_000; i++) single.append(`CA${i % 100}`, 'transcript.final', FINAL, ['receiver']);
  single.close();
  const singleAppendsPerSecond = 3_000 / ((performance.now() - t0) / 1000);

  const server =
    !process.env.BENCH_DATABASE_URL && hasPostgres ? await startPostgres({ fsync: true }) : undefined;
  const places: [StoreBench['store'], (name: string) => Promise<OutboxStore>][] = [
    ['SQLite', async (name) => new SqliteOutboxStore(join(dir, `${name}.db`), 'full', keyring)],
  ];
  if (process.env.BENCH_DATABASE_URL || server) {
    places.push([
      'PostgreSQL',
      async () =>
        PostgresOutboxStore.open(
          openPool(process.env.BENCH_DATABASE_URL ?? (await server?.database()) ?? '', 10, OUTBOX_POOL),
          keyring,
        ),
    ]);
  }
  const stores: StoreBench[] = [];
  for (const [kind, open] of places) {
    const store = await open('appends');
    const appendsPerSecond = await groupAppends(store, calls, 20_000);
    await store.close();
    const runs = [];
    for (const partials of [false, true])
      runs.push(await liveRun(await open(`live-${partials}`), calls, seconds, partials));
    stores.push({ store: kind, appendsPerSecond, runs });
  }
  await server?.stop();
  return { sealed: keyring !== undefined, singleAppendsPerSecond, liveCalls: calls, stores };
}

/** `calls` calls, both legs speaking: a final every 2 s per leg, and with `partials` 4 more a second. */
async function liveRun(
  outbox: OutboxStore,
  calls: number,
  seconds: number,
  partials: boolean,
): Promise<LiveRun> {
  const latencies: number[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { occurredAt } = JSON.parse(Buffer.concat(chunks).toString()) as { occurredAt: string };
      latencies.push(Date.now() - Date.parse(occurredAt));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const config: WebhookConfig = {
    endpoints: [
      {
        id: 'receiver',
        url,
        secrets: [`whsec_${Buffer.alloc(32, 1).toString('base64')}`],
        events: new Set(),
      },
    ],
    timeoutMs: 15_000,
    leaseMs: 45_000,
    retryBaseMs: 1_000,
    retryMaxMs: 600_000,
    maxAgeMs: 86_400_000,
    concurrency: Number(process.env.CONCURRENCY ?? 8), // the WEBHOOK_CONCURRENCY default
    outboxSync: 'full',
    recording: { format: 'none', retentionHours: 0 },
  };
  const noop = () => undefined;
  const dispatcher = new Dispatcher(outbox, config, pino({ level: 'silent' }), {
    delivered: noop,
    attemptFailed: noop,
    deadLettered: noop,
  });
  dispatcher.start();
  // Ticks of 200 ms: every tenth tick a final per leg; with partials, a partial on the others.
  let emitted = 0;
  let ticks = 0;
  const tick = setInterval(() => {
    ticks++;
    for (let c = 0; c < calls; c++) {
      for (const leg of ['caller', 'agent']) {
        let stored: Promise<unknown>;
        if ((ticks + c) % 10 === 0)
          stored = outbox.append(
            `CA${c}`,
            'transcript.final',
            { ...FINAL, speaker: leg },
            ['receiver'],
            Date.now(),
          );
        else if (partials)
          stored = outbox.append(
            `CA${c}`,
            'transcript.partial',
            { ...PARTIAL, speaker: leg },
            ['receiver'],
            Date.now(),
          );
        else continue;
        // As the publisher does: the dispatcher hears of an event once it is committed.
        void stored.then(() => dispatcher.notify(['receiver']));
        emitted++;
      }
    }
  }, 200);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(tick);
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // let the last ones arrive
  await dispatcher.stop(5_000);
  await outbox.close();
  receiver.close();
  latencies.sort((a, b) => a - b);
  return {
    partials,
    eventsPerSecond: emitted / seconds,
    delivered: latencies.length,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
  };
}

export function outboxTable(r: OutboxBench): string {
  return [
    `| store | measure${r.sealed ? ' (bodies sealed: ENCRYPTION_KEY)' : ''} | result |`,
    '|---|---|---|',
    `| SQLite | one fsynced transaction per event (no group commit) | ${Math.round(r.singleAppendsPerSecond)} events/s |`,
    ...r.stores.flatMap((s) => [
      `| ${s.store} | durable appends, group commit, ${r.liveCalls} calls appending at once | **${Math.round(s.appendsPerSecond)} events/s** |`,
      ...s.runs.map(
        (run) =>
          `| ${s.store} | ${r.liveCalls} live calls, ${run.partials ? 'finals and partials' : 'finals'} (${Math.round(run.eventsPerSecond)} events/s, ${run.delivered} delivered): committed → received p50 / p99 | **${run.latencyP50Ms.toFixed(0)} / ${run.latencyP99Ms.toFixed(0)} ms** |`,
      ),
    ]),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`webhook outbox (${machine()})`);
  console.log(outboxTable(await benchOutbox()));
  process.exit(0);
}
