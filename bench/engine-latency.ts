/**
 * Gateway-added latency: from a Twilio media frame leaving the load generator to its append being
 * written on the vLLM engine socket, at 100 two-leg calls with voxline on one core; and the same
 * for a bare relay (parse → base64 → socket write) in the same run, as a ratio. The engine end is a
 * sink that accepts sessions and swallows appends (bench/engine-sink.ts), in the generator's process.
 */

import { startEngineSink } from './engine-sink.js';
import { machine } from './lib.js';
import { benchLoad, type LoadStep, loadTable } from './load.js';

export interface EngineLatency {
  readonly voxline: LoadStep;
  readonly relay: LoadStep;
  readonly ratioP50: number;
  readonly ratioP99: number;
}

export async function benchEngineLatency(calls = Number(process.env.CALLS ?? 100)): Promise<EngineLatency> {
  const sink = await startEngineSink();
  // ASR_APPEND_MS=0: every frame its own append, so this is what voxline adds to a frame. With the
  // default 80 ms grouping a frame also waits for the rest of its model step, by design: the model
  // cannot run that step before its last frame has arrived anyway.
  const env = { VLLM_URL: sink.url, VAD_ENABLED: 'false', LOG_LEVEL: 'warn', ASR_APPEND_MS: '0' };
  const voxline = (await benchLoad([calls], 'engine', env)).results[0];
  const relay = (await benchLoad([calls], 'relay', env)).results[0];
  sink.close();
  return {
    voxline,
    relay,
    ratioP50: voxline.latencyP50Ms / relay.latencyP50Ms,
    ratioP99: voxline.latencyP99Ms / relay.latencyP99Ms,
  };
}

export function engineLatencyTable(r: EngineLatency): string {
  const row = (name: string, s: LoadStep) =>
    `| ${name} | ${s.latencyP50Ms.toFixed(2)} / ${s.latencyP99Ms.toFixed(2)} ms | ${s.latencySamples} | ${s.lagP99Ms.toFixed(1)} ms | ${s.cpuPercent.toFixed(0)} % |`;
  return [
    `| ${r.voxline.calls} two-leg calls | frame in → append on the engine socket, p50 / p99 | frames timed | event-loop lag p99 | server CPU |`,
    '|---|---|---|---|---|',
    row('voxline (vLLM engine, VAD off)', r.voxline),
    row('bare relay (parse → base64 → write)', r.relay),
    `| **ratio** | **${r.ratioP50.toFixed(2)}× / ${r.ratioP99.toFixed(2)}×** | | | |`,
  ].join('\n');
}

/** Capacity with transcription on: the load steps with the VAD and the vLLM engine writing words (VAD=1). */
export async function benchTranscribingLoad(steps: number[]): Promise<LoadStep[]> {
  const sink = await startEngineSink({ words: true });
  const { results } = await benchLoad(steps, 'engine', { VLLM_URL: sink.url, VAD_ENABLED: 'true' });
  sink.close();
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`engine latency (${machine()}): server pinned to core 0, load generator and sink to core 1`);
  if (process.env.VAD === '1') {
    const steps = (process.env.STEPS ?? '200,400').split(',').map(Number);
    console.log(loadTable(await benchTranscribingLoad(steps)));
  } else {
    console.log(engineLatencyTable(await benchEngineLatency()));
  }
  process.exit(0);
}
