/**
 * The server side of bench/load.ts: the real voxline app (buildApp) in its own process, pinned to
 * one core by the parent, reporting event-loop lag, CPU, memory and frame timings over IPC.
 * Not part of the product: it only adds a measuring consumer through AppDeps.
 * PROFILE_DIR=dir writes a CPU profile of each measurement window there (window-profiler.ts).
 */
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { reportStatsOverIpc } from './server-stats.js';
import { windowProfiler } from './window-profiler.js';

const MAX_SAMPLES = 500_000;
const samples: { key: string; ns: bigint }[] = [];
// The plain load runs without transcription; with VLLM_URL set it measures the vLLM engine.
const config = loadConfig({ ...(process.env.VLLM_URL ? {} : { ASR_ENGINE: 'none' }), ...process.env });
const { server, registry, startEdges } = await buildApp(config, {
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
await startEdges(); // SIP, when bench/sip-load.ts sets SIP_PORT

const profiler = windowProfiler(process.env.PROFILE_DIR);

reportStatsOverIpc({
  liveCalls: () => registry.liveCount,
  onReset: async () => {
    samples.length = 0;
    await profiler.start();
  },
  extra: async () => {
    await profiler.stop();
    return { samples: samples.map((s) => [s.key, s.ns.toString()]) };
  },
  onExit: () => void server.close().then(() => process.exit(0)),
});
