/**
 * The server side of bench/load.ts: the real voxline app (buildApp) in its own process, pinned to
 * one core by the parent, reporting event-loop lag, CPU, memory and frame timings over IPC.
 * Not part of the product: it only adds a measuring consumer through AppDeps.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

interface Sample {
  key: string;
  ns: bigint;
}

const samples: Sample[] = [];
const MAX_SAMPLES = 500_000;
const config = loadConfig(process.env);
const { server, registry } = await buildApp(config, {
  consumers: [
    (call, leg) => ({
      push: (frame) => {
        // One frame per second per leg is timed: enough for percentiles, cheap to keep.
        if (frame.startMs % 1000 === 0 && !frame.filled && samples.length < MAX_SAMPLES) {
          samples.push({ key: `${call.callSid}|${leg.track}|${frame.startMs}`, ns: process.hrtime.bigint() });
        }
      },
      end: () => undefined,
    }),
  ],
});
await server.listen({ port: config.port, host: config.host });

const lag = monitorEventLoopDelay({ resolution: 1 });
lag.enable();
let cpuStart = process.cpuUsage();
let wallStart = performance.now();

// PROFILE_DIR: a CPU profile of each measurement window (reset → report), for finding hot spots.
const profiler = process.env.PROFILE_DIR ? new Session() : undefined;
profiler?.connect();
await profiler?.post('Profiler.enable');
let profiles = 0;

process.on('message', async (message: { cmd: string }) => {
  if (message.cmd === 'reset') {
    await profiler?.post('Profiler.start');
    lag.reset();
    samples.length = 0;
    cpuStart = process.cpuUsage();
    wallStart = performance.now();
    process.send?.({ cmd: 'reset' });
  } else if (message.cmd === 'report') {
    const cpu = process.cpuUsage(cpuStart);
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${process.env.PROFILE_DIR}/window-${++profiles}.cpuprofile`, JSON.stringify(profile));
    }
    const wallMs = performance.now() - wallStart;
    globalThis.gc?.();
    const memory = process.memoryUsage();
    process.send?.({
      cmd: 'report',
      liveCalls: registry.liveCount,
      lagP50Ms: lag.percentile(50) / 1e6,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wallMs,
      userPercent: (100 * cpu.user) / 1000 / wallMs,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external + memory.arrayBuffers,
      samples: samples.map((s) => [s.key, s.ns.toString()]),
    });
  } else if (message.cmd === 'exit') {
    void server.close().then(() => process.exit(0));
  }
});
process.send?.({ cmd: 'ready' });
