/**
 * The server side of bench/engine-latency.ts: the real voxline app with the real vLLM engine
 * (VAD off, so every frame becomes one append at once), timing when each append is written on the
 * engine socket. One frame per second per leg is timed, keyed like bench/load-server.ts.
 */
import { buildApp } from '../src/app.js';
import { VllmEngine } from '../src/asr/vllm/vllm-engine.js';
import { loadConfig } from '../src/config.js';
import { reportStatsOverIpc } from './server-stats.js';
import { windowProfiler } from './window-profiler.js';

const MAX_SAMPLES = 500_000;
const samples: { key: string; ns: bigint }[] = [];
const config = loadConfig(process.env);
const trackOf: Record<string, string> = { caller: 'inbound', agent: 'outbound' };
const noop = () => undefined;
const engine = new VllmEngine({
  urls: config.asr.vllm.urls,
  model: config.asr.vllm.model,
  apiKey: undefined,
  limits: config.asr.limits,
  observer: {
    latency: noop,
    reconnect: noop,
    audioSent: noop,
    dropped: noop,
    appended: (callSid, leg, startMs) => {
      if (startMs % 1000 === 0 && samples.length < MAX_SAMPLES) {
        samples.push({ key: `${callSid}|${trackOf[leg]}|${startMs}`, ns: process.hrtime.bigint() });
      }
    },
  },
});
const { server, registry } = await buildApp(config, { engine });
await server.listen({ port: config.port, host: config.host });

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
