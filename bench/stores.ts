/**
 * SQLite and PostgreSQL side by side, in one run:
 * 1. durable appends per second with group commit, and delivery to one endpoint (bench/outbox.ts);
 * 2. event-loop lag at CALLS (100; CALLS=100,200 for more steps) transcribed two-leg calls with each store as the outbox and the
 *    call store: voxline on core 0 (bench/engine-server.ts: the real app, VAD on, the vLLM engine)
 *    into a sink that answers with words (so partials and finals become webhooks, as with a real
 *    model), Twilio calls from this process on core 1, where PostgreSQL and a receiver also run;
 * 3. delivery with one, two and three instances on one PostgreSQL (bench/outbox-cluster.ts).
 *
 * Run: npx tsx bench/stores.ts (CALLS=100, SECONDS=5 for the outbox part, INSTANCES=1,2,3).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasPostgres, startPostgres } from '../test/helpers/postgres.js';
import { startEngineSink } from './engine-sink.js';
import { machine } from './lib.js';
import { benchLoad, type LoadStep } from './load.js';
import { benchOutbox, outboxTable } from './outbox.js';
import { benchOutboxCluster, outboxClusterTable } from './outbox-cluster.js';

const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;

export interface StoreLoad {
  readonly store: 'SQLite' | 'PostgreSQL';
  readonly steps: readonly LoadStep[];
  /** Webhooks the receiver got over the store's whole run (every step, ramps and pauses included). */
  readonly webhooksPerSecond: number;
}

/** A receiver that answers 204 and counts. */
async function countingReceiver() {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received: () => received,
    close: () => server.close(),
  };
}

export async function benchStoreLoad(
  calls = (process.env.CALLS ?? '100').split(',').map(Number),
): Promise<StoreLoad[]> {
  // PostgreSQL inherits this process's core (1): voxline has core 0 to itself.
  execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const postgres = hasPostgres ? await startPostgres({ fsync: true }) : undefined;
  const results: StoreLoad[] = [];
  try {
    const stores: [StoreLoad['store'], Record<string, string>][] = [['SQLite', {}]];
    if (postgres) stores.push(['PostgreSQL', { DATABASE_URL: await postgres.database() }]);
    for (const [store, env] of stores) {
      const sink = await startEngineSink({ words: true });
      const hooks = await countingReceiver();
      const t0 = performance.now();
      const { results: steps } = await benchLoad(calls, 'engine', {
        ...env,
        VLLM_URL: sink.url,
        VAD_ENABLED: 'true',
        WEBHOOK_URL: hooks.url,
        WEBHOOK_SECRET: SECRET,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-bench-store-')),
      });
      const seconds = (performance.now() - t0) / 1000;
      results.push({ store, steps, webhooksPerSecond: hooks.received() / seconds });
      sink.close();
      hooks.close();
    }
  } finally {
    await postgres?.stop();
  }
  return results;
}

export function storeLoadTable(rows: readonly StoreLoad[]): string {
  return [
    '| store | transcribed two-leg calls | event-loop lag p50 / p99 / max | server CPU | memory per call (RSS) | webhooks delivered |',
    '|---|---|---|---|---|---|',
    ...rows.flatMap((r) =>
      r.steps.map(
        (step) =>
          `| ${r.store} | ${step.calls} | ${step.lagP50Ms.toFixed(1)} / **${step.lagP99Ms.toFixed(1)}** / ${step.lagMaxMs.toFixed(1)} ms | ${step.cpuPercent.toFixed(0)} % | ${step.rssPerCallKiB.toFixed(0)} KiB | ${Math.round(r.webhooksPerSecond)} /s |`,
      ),
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`stores side by side (${machine()})`);
  console.log(outboxTable(await benchOutbox()));
  console.log();
  console.log(storeLoadTable(await benchStoreLoad()));
  if (hasPostgres) {
    console.log();
    console.log(outboxClusterTable(await benchOutboxCluster()));
  }
  process.exit(0);
}
