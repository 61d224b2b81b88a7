/**
 * The overload ramp: calls offered at a steady rate, past what one core holds with transcription
 * on (VAD + vLLM engine into bench/engine-sink.ts), with the load governor at its defaults
 * (or OVERLOAD_MAX_LAG_MS as set). Each second: calls offered and admitted so far, refusals (503 before
 * the upgrade), and the server's event-loop lag over that second. What should show: admissions
 * stop before the lag runs away, and the calls already taken keep streaming.
 */
import { loadConfig } from '../src/config.js';
import { startEngineSink } from './engine-sink.js';
import { machine } from './lib.js';
import { ask, nextCallSid, SERVERS, startBenchServer, TwilioCallDriver } from './load.js';

const RATE = Number(process.env.RATE ?? 10); // new calls a second
const SECONDS = Number(process.env.SECONDS ?? 40);

export interface OverloadSecond {
  readonly second: number;
  readonly offered: number;
  readonly admitted: number;
  readonly refused: number;
  readonly lagP99Ms: number;
  readonly cpuPercent: number;
}

export async function benchOverload(rate = RATE, seconds = SECONDS): Promise<OverloadSecond[]> {
  const sink = await startEngineSink({ words: true });
  const { server, port } = await startBenchServer(SERVERS.engine, {
    VLLM_URL: sink.url,
    VAD_ENABLED: 'true',
    // The governor at voxline's default, unless OVERLOAD_MAX_LAG_MS is set for the bench.
    OVERLOAD_MAX_LAG_MS: process.env.OVERLOAD_MAX_LAG_MS ?? String(loadConfig({}).calls.overload.maxLagMs),
  });
  const driver = new TwilioCallDriver(port);
  const rows: OverloadSecond[] = [];
  let offered = 0;
  let refused = 0;
  await ask(server, 'reset');
  for (let second = 1; second <= seconds; second++) {
    const started = performance.now();
    for (let i = 0; i < rate; i++) {
      offered++;
      driver.open(nextCallSid(), (i * 20) / rate).catch(() => {
        refused++;
      });
      await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - started))));
    const report = await ask(server, 'report');
    await ask(server, 'reset');
    rows.push({
      second,
      offered,
      admitted: driver.calls.length,
      refused,
      lagP99Ms: report.lagP99Ms,
      cpuPercent: report.cpuPercent,
    });
    console.error(
      `  ${second} s: ${driver.calls.length}/${offered} admitted, lag p99 ${report.lagP99Ms.toFixed(0)} ms`,
    );
  }
  driver.stop();
  server.send({ cmd: 'exit' });
  sink.close();
  return rows;
}

export function overloadTable(rows: readonly OverloadSecond[], every = 5): string {
  return [
    '| second | calls offered | admitted | refused (503) | event-loop lag p99 that second | server CPU |',
    '|---|---|---|---|---|---|',
    ...rows
      .filter((r) => r.second % every === 0)
      .map(
        (r) =>
          `| ${r.second} | ${r.offered} | ${r.admitted} | ${r.refused} | ${r.lagP99Ms.toFixed(0)} ms | ${r.cpuPercent.toFixed(0)} % |`,
      ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`overload ramp (${machine()}): ${RATE} new transcribed calls a second, voxline on one core`);
  console.log(overloadTable(await benchOverload()));
  process.exit(0);
}
