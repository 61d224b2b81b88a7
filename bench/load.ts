/**
 * How many two-leg calls one core holds at real-time pace.
 *
 * voxline (the real app, bench/load-server.ts) runs in a child process pinned to core 0; this
 * process, pinned to core 1, plays N calls at once over raw WebSockets: per call, a Twilio media
 * message per track every 20 ms (real speech from media/, looped), signed upgrades, calls spread
 * evenly over the 20 ms cycle as independent phones would be. For each N it reports the server's
 * event-loop lag (p50/p99/max), CPU use, memory per live call, and the latency from a frame
 * leaving this process to its AudioFrame reaching a consumer in voxline (one frame per second
 * per leg is timed, on the shared monotonic clock).
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import type { Socket } from 'node:net';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { demoLegs, machine, percentile, startMessage } from './lib.js';
import { freePortSync } from './ports.js';
import { openRawWebSocket, textFrames } from './raw-websocket.js';

const STEPS = (process.env.STEPS ?? '100,500,1000,1250').split(',').map(Number);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 10_000);
const WARM_MS = Number(process.env.WARM_MS ?? 3_000);
const TOKEN = 'bench-auth-token';

export interface Report {
  liveCalls: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  cpuPercent: number;
  userPercent: number;
  /** The event loop's thread alone (Linux; 0 elsewhere). */
  mainThreadPercent: number;
  rss: number;
  heapUsed: number;
  external: number;
  samples: [string, string][];
}

export interface LoadStep {
  calls: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  cpuPercent: number;
  userPercent: number;
  mainThreadPercent: number;
  rssPerCallKiB: number;
  heapPerCallKiB: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencySamples: number;
  sendLagMaxMs: number;
}

export function ask(server: ChildProcess, cmd: string): Promise<Report> {
  return new Promise((resolve) => {
    const onMessage = (message: { cmd: string } & Report) => {
      if (message.cmd !== cmd) return;
      server.off('message', onMessage);
      resolve(message);
    };
    server.on('message', onMessage);
    server.send({ cmd });
  });
}

interface SimCall {
  socket: Socket;
  callSid: string;
  phaseMs: number;
  sent: number; // frames sent per track
  sequence: number;
}

export const SERVERS = {
  /** The real app; frames timed as they reach a consumer. */
  voxline: 'bench/load-server.ts',
  /** A bare ws server that only parses. */
  floor: 'bench/floor-server.ts',
  /** The real app with the vLLM engine; frames timed as their append is written (engine-latency.ts). */
  engine: 'bench/engine-server.ts',
  /** A bare relay: parse → base64 → engine socket write (engine-latency.ts). */
  relay: 'bench/relay-server.ts',
} as const;

/**
 * Forks a bench server pinned to core 0 (this process moves to core 1) and waits until it
 * listens. The environment is the Twilio load's; `extraEnv` adds to it (SIP ports, engines).
 */
export async function startBenchServer(
  script: string,
  extraEnv: Record<string, string> = {},
): Promise<{ server: ChildProcess; port: number }> {
  execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const port = freePortSync();
  const server = fork(script, [], {
    execPath: 'taskset',
    execArgv: ['-c', '0', process.execPath, '--expose-gc', '--import', 'tsx'],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      TWILIO_AUTH_TOKEN: TOKEN,
      LOG_LEVEL: 'warn',
      MAX_LIVE_CALLS: '100000',
      CALL_HISTORY_LIMIT: '0',
      MEDIA_IDLE_TIMEOUT_MS: '60000',
      // Capacity is measured, not defended: the load governor would refuse calls past it (the
      // overload ramp, bench/overload.ts, turns it back on).
      OVERLOAD_MAX_LAG_MS: '0',
      ...extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve) => server.once('message', () => resolve()));
  return { server, port };
}

/** The media of the demo call, base64 per 20 ms frame per track, as Twilio sends it. */
function demoPayload(): { frames: number; inbound: string[]; outbound: string[] } {
  const legs = demoLegs();
  const frames = Math.floor(legs.caller.length / 160);
  const encode = (audio: Uint8Array) =>
    Array.from({ length: frames }, (_, i) =>
      Buffer.from(audio.subarray(i * 160, i * 160 + 160)).toString('base64'),
    );
  return { frames, inbound: encode(legs.caller), outbound: encode(legs.agent) };
}

/**
 * Plays Twilio calls into a bench server at real-time pace: one timer drives every call, each
 * sending its two tracks' frames when its phase in the 20 ms cycle comes up. One frame per second
 * per leg is timed (`sentAt`), for the latency the server reports.
 */
export class TwilioCallDriver {
  readonly calls: SimCall[] = [];
  readonly sentAt = new Map<string, bigint>();
  sendLagMaxMs = 0;
  readonly #port: number;
  readonly #signature: string;
  readonly #payload = demoPayload();
  readonly #t0 = performance.now();
  #running = false;

  constructor(port: number) {
    this.#port = port;
    this.#signature = getExpectedTwilioSignature(TOKEN, `ws://127.0.0.1:${port}/twilio/media`, {});
  }

  /** Opens a call (its upgrade signed) and starts its media; rejects with the status line if refused. */
  async open(callSid: string, phaseMs: number): Promise<SimCall> {
    const socket = await openRawWebSocket(this.#port, '/twilio/media', {
      'X-Twilio-Signature': this.#signature,
    });
    socket.write(textFrames([startMessage(callSid).toString()]));
    const call = {
      socket,
      callSid,
      phaseMs,
      sent: Math.floor((performance.now() - this.#t0) / 20),
      sequence: 1,
    };
    this.calls.push(call);
    if (!this.#running) {
      this.#running = true;
      this.#tick();
    }
    return call;
  }

  stop(): void {
    this.#running = false;
    for (const call of this.calls.splice(0)) call.socket.destroy();
  }

  #tick(): void {
    if (!this.#running) return;
    const { frames, inbound, outbound } = this.#payload;
    const now = performance.now();
    for (const call of this.calls) {
      const due = Math.floor((now - this.#t0 - call.phaseMs) / 20) + 1;
      if (due - call.sent > 1) this.sendLagMaxMs = Math.max(this.sendLagMaxMs, (due - call.sent - 1) * 20);
      for (; call.sent < due; call.sent++) {
        const k = call.sent;
        const ts = k * 20;
        const i = k % frames;
        const sid = `MZ${call.callSid.slice(2)}`;
        const message = (track: 'inbound' | 'outbound', seq: number) =>
          `{"event":"media","sequenceNumber":"${seq}","media":{"track":"${track}","chunk":"${k + 1}","timestamp":"${ts}","payload":"${(track === 'inbound' ? inbound : outbound)[i]}"},"streamSid":"${sid}"}`;
        const out = message('outbound', ++call.sequence);
        const inb = message('inbound', ++call.sequence);
        if (ts % 1000 === 0) {
          const at = process.hrtime.bigint();
          this.sentAt.set(`${call.callSid}|outbound|${ts}`, at);
          this.sentAt.set(`${call.callSid}|inbound|${ts}`, at);
        }
        call.socket.write(textFrames([out, inb]));
      }
    }
    setTimeout(() => this.#tick(), 1);
  }
}

let nextSid = 0;
/** A CallSid no other call of this process has had. */
export function nextCallSid(): string {
  return `CA${String(++nextSid).padStart(32, '0')}`;
}

export async function benchLoad(
  steps = STEPS,
  target: keyof typeof SERVERS = 'voxline',
  extraEnv: Record<string, string> = {},
): Promise<{ baseline: Report; results: LoadStep[] }> {
  const { server, port } = await startBenchServer(SERVERS[target], extraEnv);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await ask(server, 'reset');
  const baseline = await ask(server, 'report');
  const results: LoadStep[] = [];

  for (const n of steps) {
    const driver = new TwilioCallDriver(port);
    // Open the calls over about two seconds, as a real ramp would.
    for (let i = 0; i < n; i++) {
      await driver.open(nextCallSid(), (i * 20) / n);
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, Math.max(1, 2000 / (n / 50))));
    }
    await new Promise((resolve) => setTimeout(resolve, WARM_MS));
    driver.sendLagMaxMs = 0;
    driver.sentAt.clear();
    await ask(server, 'reset');
    await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
    const report = await ask(server, 'report');
    results.push(stepResult(n, report, baseline, driver.sentAt, driver.sendLagMaxMs));
    console.error(
      `  ${target}, ${n} calls: lag p99 ${report.lagP99Ms.toFixed(1)} ms, CPU ${report.cpuPercent.toFixed(0)} % (main thread ${report.mainThreadPercent.toFixed(0)} %)`,
    );
    driver.stop();
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  server.send({ cmd: 'exit' });
  return { baseline, results };
}

/** One load step's row: server lag, CPU and memory per call, and frame latency from the timed samples. */
export function stepResult(
  calls: number,
  report: Report,
  baseline: Report,
  sentAt: ReadonlyMap<string, bigint>,
  sendLagMaxMs: number,
): LoadStep {
  const latencies: number[] = [];
  for (const [key, ns] of report.samples) {
    const sent = sentAt.get(key);
    if (sent !== undefined) latencies.push(Number(BigInt(ns) - sent) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  return {
    calls,
    lagP50Ms: report.lagP50Ms,
    lagP99Ms: report.lagP99Ms,
    lagMaxMs: report.lagMaxMs,
    cpuPercent: report.cpuPercent,
    userPercent: report.userPercent,
    mainThreadPercent: report.mainThreadPercent ?? 0,
    rssPerCallKiB: (report.rss - baseline.rss) / calls / 1024,
    heapPerCallKiB:
      (report.heapUsed + report.external - baseline.heapUsed - baseline.external) / calls / 1024,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    latencySamples: latencies.length,
    sendLagMaxMs,
  };
}

export function loadTable(results: readonly LoadStep[]): string {
  const rows = [
    '| calls | event-loop lag p50 / p99 / max | server CPU (user) | memory per call (RSS / heap+buffers) | frame → AudioFrame p50 / p99 |',
    '|---|---|---|---|---|',
  ];
  for (const r of results) {
    const latency = Number.isNaN(r.latencyP50Ms)
      ? '–'
      : `${r.latencyP50Ms.toFixed(2)} / ${r.latencyP99Ms.toFixed(2)} ms`;
    rows.push(
      `| ${r.calls} | ${r.lagP50Ms.toFixed(1)} / ${r.lagP99Ms.toFixed(1)} / ${r.lagMaxMs.toFixed(1)} ms | ${r.cpuPercent.toFixed(0)} % (${r.userPercent.toFixed(0)} %) | ${r.rssPerCallKiB.toFixed(0)} / ${r.heapPerCallKiB.toFixed(0)} KiB | ${latency} |`,
    );
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.env.TARGET === 'floor' ? 'floor' : 'voxline';
  console.log(`load (${machine()}), ${target}: server pinned to core 0, load generator to core 1`);
  const { results } = await benchLoad(STEPS, target);
  console.log(loadTable(results));
  process.exit(0);
}
