/**
 * The long fuzz run: `npm run fuzz -- --seconds 600 [--seed N] [--rate N]`.
 *
 * One gateway with every edge on; all edges fuzzed at once (SIP over UDP and TCP, RTP at a live
 * SIP call, AudioSocket, Twilio Media Streams, HTTP), each from its own seeded stream of inputs;
 * one real Twilio call beside them sending a 20 ms frame every 20 ms the whole time; liveness
 * probes (GET /healthz and a SIP OPTIONS) throughout. At the end: every fuzz call over, the
 * descriptor count back where it was, the beside call's frames counted exactly, and a summary.
 * Exits 1 on any failure. An uncaught exception is the failure this run exists to find: it is
 * reported (with the last input of each edge) and the process exits 1.
 */
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { type Clock, systemClock } from '../../src/clock.js';
import {
  AudioSocketEdge,
  BrowserEdge,
  type Edge,
  endedCall,
  HttpEdge,
  RtpEdge,
  SipDialogEdge,
  SipTcpEdge,
  SipUdpEdge,
  TwilioEdge,
} from './edges.js';
import {
  BesideCall,
  endFuzzCalls,
  FUZZ_SEED,
  Liveness,
  MAX_GROWTH_MB,
  openFds,
  settle,
  stableFds,
  startFuzzGateway,
} from './harness.js';

const write = (line: string) => process.stdout.write(`${line}\n`);

function args(): { seconds: number; seed: number; rate: number } {
  const argv = process.argv.slice(2);
  const value = (name: string, fallback: number) => {
    const i = argv.indexOf(`--${name}`);
    const inline = argv.find((a) => a.startsWith(`--${name}=`));
    const raw = inline ? inline.split('=')[1] : i >= 0 ? argv[i + 1] : undefined;
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${raw})`);
    return n;
  };
  return {
    seconds: value('seconds', 60),
    seed: Math.floor(value('seed', FUZZ_SEED)),
    rate: value('rate', 100),
  };
}

const { seconds, seed, rate } = args();
/** A soak run paces itself in real time (that is its point), through the clock the gateway uses. */
const clock: Clock = systemClock;
const started = clock.now();
const deadline = started + seconds * 1000;
const elapsed = () => ((clock.now() - started) / 1000).toFixed(1);

/** The input each edge is delivering now, for a crash report. */
const current = new Map<string, string>();
const failures: string[] = [];
const fail = (what: string) => {
  failures.push(`[${elapsed()} s] ${what}`);
  write(`FAIL [${elapsed()} s] ${what.split('\n')[0].slice(0, 300)}`);
};

function crashed(kind: string, err: unknown): never {
  const e = err as Error;
  write(`\n${kind} after ${elapsed()} s: the gateway's process would have exited.`);
  write(e?.stack ?? String(err));
  write('Inputs in flight (edge: input):');
  for (const [edge, input] of current) write(`  ${edge}: ${input}`);
  write('\nRESULT: FAIL (process exit)');
  process.exit(1);
}
process.on('uncaughtException', (err) => crashed('uncaughtException', err));
process.on('unhandledRejection', (err) => crashed('unhandledRejection', err));

const wait = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));

write(`voxline fuzz: ${seconds} s, seed ${seed}, up to ${rate} inputs/s per edge`);
// SIP_MAX_CALLS also sizes the INVITE transaction table (2× + 100, each kept 32 s): at the default,
// the INVITEs of all SIP edges together would fill it within seconds and be refused statelessly.
const { gw, errors } = await startFuzzGateway('50000-50998', { SIP_MAX_CALLS: '10000' });
const liveness = await Liveness.open(gw);
const beside = await BesideCall.open(gw, 'CAlongrun000000000000000000000001');
const sip = await SipUdpEdge.open(gw);
const tcp = await SipTcpEdge.open(gw);
const dialog = await SipDialogEdge.open(gw);
const rtp = await RtpEdge.open(gw);
const audioSocket = new AudioSocketEdge(gw);
const twilio = new TwilioEdge(gw);
const browser = new BrowserEdge(gw);
const http = new HttpEdge(gw, beside.callSid, await endedCall(gw));
// biome-ignore lint/suspicious/noExplicitAny: each edge takes its own input type; the loop only passes them through.
const edges: Edge<any>[] = [sip, tcp, dialog, rtp, audioSocket, twilio, browser, http];
const keep = new Set([beside.callSid, ...edges.flatMap((e) => e.keep)]);
await liveness.check();
const fdsBefore = await stableFds();
const rssStartMb = process.memoryUsage().rss / 1e6;
let rssPeakMb = rssStartMb;
const failuresPerEdge = new Map<string, number>(edges.map((e) => [e.name, 0]));

/** A batch's seed from the run's seed, the edge and the batch (hashed: runs of nearby seeds share no batch). */
function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ part, 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h;
}

/** One edge's loop: seeded batches of inputs until the deadline, at most `rate` a second. */
// biome-ignore lint/suspicious/noExplicitAny: see `edges`.
async function fuzzEdge(edge: Edge<any>, index: number): Promise<void> {
  const gap = 1000 / rate;
  for (let batch = 0; clock.now() < deadline; batch++) {
    const batchSeed = mix(seed, index, batch);
    const inputs = fc.sample(edge.input, { seed: batchSeed, numRuns: 50 });
    for (const [i, input] of inputs.entries()) {
      if (clock.now() >= deadline) return;
      const begun = clock.now();
      current.set(edge.name, `seed ${batchSeed} #${i}: ${fc.stringify(input).slice(0, 1500)}`);
      try {
        await edge.send(input);
        edge.check?.();
      } catch (err) {
        failuresPerEdge.set(edge.name, (failuresPerEdge.get(edge.name) ?? 0) + 1);
        fail(
          `${edge.name} (batch seed ${batchSeed} #${i}): ${(err as Error).message}\n  (input in flight: ${fc.stringify(input).slice(0, 1500)})`,
        );
        if (edge === rtp && gw.app.registry.get(rtp.callSid)?.state !== 'live') {
          fail('rtp: the RTP edge’s call is over; its loop stops');
          return;
        }
      }
      current.delete(edge.name);
      const pause = gap - (clock.now() - begun);
      await (pause > 0 ? wait(pause) : new Promise((resolve) => setImmediate(resolve)));
    }
  }
}

/** The beside call: a frame every 20 ms, on the wall clock (drift does not accumulate). */
async function pace(): Promise<void> {
  while (clock.now() < deadline) {
    beside.frame();
    const due = started + beside.sent * 20;
    await wait(Math.max(0, due - clock.now()));
  }
}

let probes = 0;
let probeFailures = 0;
async function probe(): Promise<void> {
  while (clock.now() < deadline) {
    probes++;
    await liveness.check().catch((err: Error) => {
      probeFailures++;
      fail(`liveness: ${err.message}`);
    });
    await wait(100);
  }
}

let swept = 0;
let errorLines = 0;
async function watch(): Promise<void> {
  while (clock.now() < deadline) {
    swept += await endFuzzCalls(gw, keep, beside.callSid);
    for (const line of errors.take()) {
      errorLines++;
      const err = line.err as { type?: string; message?: string; stack?: string } | undefined;
      fail(
        `voxline logged an error: ${String(line.msg)}${err ? ` — ${err.type}: ${err.message}\n${err.stack}` : ''}`,
      );
    }
    const rss = process.memoryUsage().rss / 1e6;
    rssPeakMb = Math.max(rssPeakMb, rss);
    if (rss - rssStartMb > MAX_GROWTH_MB) {
      fail(`memory grew from ${Math.round(rssStartMb)} MB to ${Math.round(rss)} MB: stopping early`);
      return;
    }
    await wait(200);
  }
}

/** With `node --expose-gc`, the progress line shows the heap after a collection (a leak shows as a climb). */
const gc = (globalThis as { gc?: () => void }).gc;
const progress = clock.setInterval(() => {
  gc?.();
  const counts = edges.map((e) => `${e.name} ${e.sent}`).join(', ');
  const memory = process.memoryUsage();
  const heap = gc ? `, heap after gc ${Math.round(memory.heapUsed / 1e6)} MB` : '';
  write(
    `[${elapsed()} s] inputs: ${counts}; beside frames ${beside.sent}; probes ${probes}; rss ${Math.round(memory.rss / 1e6)} MB${heap}; live calls ${gw.app.registry.liveCount}`,
  );
}, 10_000);

const watcher = watch();
await Promise.race([
  Promise.all([...edges.map((e, i) => fuzzEdge(e, i)), pace(), probe()]),
  watcher.then(() => undefined),
]);
await watcher;
clock.clearInterval(progress);

// --- the end ----------------------------------------------------------------------------------
write(`\nfuzzing over after ${elapsed()} s; settling`);
for (const edge of edges) for (const problem of await edge.finish()) fail(`${edge.name}: ${problem}`);
errors.take().forEach((line) => {
  errorLines++;
  fail(`voxline logged an error: ${String(line.msg)}`);
});
const fdsAfter = await settle(gw, new Set([beside.callSid]), fdsBefore, beside.callSid).catch(
  (err: Error) => {
    fail(`not settled: ${err.message}`);
    return openFds();
  },
);
const report = await beside.finish();
for (const problem of report.problems) fail(`beside call: ${problem}`);
for (const edge of edges) await edge.close();
liveness.close();
await gw.close();
rmSync(gw.config.dataDir, { recursive: true, force: true });

const table = (m: Map<number, number> | Map<string, number>) =>
  [...m]
    .sort((a, b) => String(a[0]).localeCompare(String(b[0]), undefined, { numeric: true }))
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
write('\n=== voxline fuzz summary ===');
write(`seconds ${seconds} (ran ${elapsed()}), seed ${seed}`);
write('inputs per edge:');
for (const edge of edges)
  write(
    `  ${edge.name.padEnd(12)} ${String(edge.sent).padStart(7)}   failures ${failuresPerEdge.get(edge.name)}`,
  );
write(`  total        ${String(edges.reduce((n, e) => n + e.sent, 0)).padStart(7)}`);
write(`SIP/UDP answers: ${table(sip.statuses)}`);
write(
  `SIP in-dialog answers: ${table(dialog.statuses)}; dialogs refused for capacity (503): ${dialog.refusedForCapacity}`,
);
write(`HTTP answers: ${table(http.statuses)}; 5xx by code: ${table(http.serverErrors) || 'none'}`);
write(`Twilio close codes: ${table(twilio.closeCodes)}`);
write(
  `RTP edge call: packets ${rtp.expected.packets}, not_rtp ${rtp.expected.notRtp}, unexpected_payload_type ${rtp.expected.unexpectedPt}, frames ${rtp.expected.frames} (as predicted: ${failuresPerEdge.get('rtp') === 0 ? 'yes' : 'NO'})`,
);
write(`fuzz calls ended by the sweep: ${swept}`);
write(`process still alive: yes (uncaught exceptions: 0)`);
write(`liveness probes: ${probes}, failed ${probeFailures}`);
write(`error-level log lines: ${errorLines}`);
write(`file descriptors: before ${fdsBefore}, after ${fdsAfter}${fdsAfter > fdsBefore ? '  LEAK' : ''}`);
write(`memory (RSS): start ${Math.round(rssStartMb)} MB, peak ${Math.round(rssPeakMb)} MB`);
write(
  `call beside: frames expected ${report.sent}, tap ${report.tapFrames}, framesReceived ${report.framesReceived}, audio ${report.audioSeconds} s, gap-filled ${report.gapFilledMs} ms, dropped ${report.framesDropped}, malformed ${report.malformed}, ended ${report.endReason} (${report.closeCode}), audio identical: ${report.firstDifference === -1 ? 'yes' : `no, from sample ${report.firstDifference}`}`,
);
if (fdsAfter > fdsBefore) fail(`${fdsAfter - fdsBefore} file descriptors leaked`);
write(`failures: ${failures.length}`);
for (const f of failures.slice(0, 20)) write(`  ${f.slice(0, 4000).split('\n').slice(0, 6).join('\n    ')}`);
if (failures.length > 20) write(`  … and ${failures.length - 20} more`);
write(`RESULT: ${failures.length === 0 ? 'PASS' : 'FAIL'}`);
process.exit(failures.length === 0 ? 0 : 1);
