/**
 * Webhook outbox: (1) durable appends per second (SQLite WAL, one transaction per event, as voxline
 * commits them: event row + delivery row, seq assigned); (2) delivery latency, event committed →
 * received, at 100 live calls each emitting transcript events (a final every 2 s per leg and the
 * partials between, 5 a second per leg) to one real HTTP receiver on loopback, through the real
 * Dispatcher. Everything runs in this one process.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Dispatcher } from '../src/webhooks/dispatcher.js';
import type { EventData } from '../src/webhooks/event-schemas.js';
import { Outbox } from '../src/webhooks/outbox.js';
import type { WebhookConfig } from '../src/webhooks/webhook-config.js';
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

interface LiveRun {
  readonly partials: boolean;
  readonly eventsPerSecond: number;
  readonly delivered: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

export interface OutboxBench {
  readonly appendsPerSecond: number;
  readonly appendsPerSecondNormal: number;
  readonly liveCalls: number;
  readonly runs: readonly LiveRun[];
}

export async function benchOutbox(
  calls = 100,
  seconds = Number(process.env.SECONDS ?? 10),
): Promise<OutboxBench> {
  const dir = mkdtempSync(join(tmpdir(), 'voxline-bench-outbox-'));
  const appends = (sync: 'full' | 'normal', n: number) => {
    const store = new Outbox(join(dir, `appends-${sync}.db`), sync);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) store.append(`CA${i % 100}`, 'transcript.final', FINAL, ['receiver']);
    store.close();
    return n / ((performance.now() - t0) / 1000);
  };
  const appendsPerSecond = appends('full', 5_000);
  const appendsPerSecondNormal = appends('normal', 20_000);
  const runs = [];
  for (const partials of [false, true])
    runs.push(await liveRun(join(dir, `live-${partials}.db`), calls, seconds, partials));
  return { appendsPerSecond, appendsPerSecondNormal, liveCalls: calls, runs };
}

/** `calls` calls, both legs speaking: a final every 2 s per leg, and with `partials` 4 more a second. */
async function liveRun(path: string, calls: number, seconds: number, partials: boolean): Promise<LiveRun> {
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
    retryBaseMs: 1_000,
    retryMaxMs: 600_000,
    maxAgeMs: 86_400_000,
    concurrency: Number(process.env.CONCURRENCY ?? 8), // the WEBHOOK_CONCURRENCY default
    outboxSync: 'full',
    recording: { format: 'none', retentionHours: 0 },
  };
  const outbox = new Outbox(path, 'full');
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
        if ((ticks + c) % 10 === 0)
          outbox.append(`CA${c}`, 'transcript.final', { ...FINAL, speaker: leg }, ['receiver']);
        else if (partials)
          outbox.append(`CA${c}`, 'transcript.partial', { ...PARTIAL, speaker: leg }, ['receiver']);
        else continue;
        emitted++;
      }
    }
    dispatcher.notify(['receiver']);
  }, 200);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(tick);
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // let the last ones arrive
  await dispatcher.stop(5_000);
  outbox.close();
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
    '| measure | result |',
    '|---|---|',
    `| durable appends, OUTBOX_SYNC=full (fsync per event; event + delivery in one transaction) | **${Math.round(r.appendsPerSecond)} events/s** |`,
    `| appends, OUTBOX_SYNC=normal (survives a process crash, not a power cut) | ${Math.round(r.appendsPerSecondNormal)} events/s |`,
    ...r.runs.map(
      (run) =>
        `| ${r.liveCalls} live calls, ${run.partials ? 'finals and partials' : 'finals'} (${Math.round(run.eventsPerSecond)} events/s, ${run.delivered} delivered): committed → received p50 / p99 | **${run.latencyP50Ms.toFixed(0)} / ${run.latencyP99Ms.toFixed(0)} ms** |`,
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`webhook outbox (${machine()})`);
  console.log(outboxTable(await benchOutbox()));
  process.exit(0);
}
