import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdirSync, rmSync } from 'node:fs';
import { request as httpRequestRaw } from 'node:http';
import fc from 'fast-check';
import { mulawToPcm } from '../../src/audio/g711.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import { parseSipMessage, type SipResponse } from '../../src/carriers/sip/sip-message.js';
import {
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  type RawMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';

/*
 * What every fuzz test shares: the run's size and seed (from the environment), one gateway with
 * every edge on, the liveness probe run after each input, file-descriptor counts, a real call that
 * runs beside the fuzzing and must come out with exact frame counts, and the sweep that ends calls
 * fuzz inputs happened to open.
 */

// --- settings --------------------------------------------------------------------------------

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`${name} must be a positive number (got ${raw})`);
  return value;
}

/** VOXLINE_FUZZ_SEED: the seed of every property (a failure prints the seed and path to replay it). */
export const FUZZ_SEED = Math.floor(numberFromEnv('VOXLINE_FUZZ_SEED', 20_260_601));
/** VOXLINE_FUZZ_SECONDS: time budget of each property (inputs stop once it is spent; shrinking included). */
export const FUZZ_SECONDS = numberFromEnv('VOXLINE_FUZZ_SECONDS', 25);

/** VOXLINE_FUZZ_RUNS: inputs per property (overrides each test's own bounded default). */
export function fuzzRuns(defaultRuns: number): number {
  return Math.floor(numberFromEnv('VOXLINE_FUZZ_RUNS', defaultRuns));
}

/** fast-check parameters: fixed seed, bounded count, bounded time. */
export function fuzzParameters<T>(defaultRuns: number, examples: T[] = []): fc.Parameters<T> {
  return {
    seed: FUZZ_SEED,
    numRuns: fuzzRuns(defaultRuns),
    examples,
    plugins: [fc.interruptAfterTimeLimit(FUZZ_SECONDS * 1000)],
  };
}

/** A vitest timeout for one property: its budget, plus starting and settling the gateway. */
export const PROPERTY_TIMEOUT_MS = (FUZZ_SECONDS + 40) * 1000;

/**
 * Like `eventually`, for state that settles within a few turns of the event loop (a datagram on
 * loopback, a write): checks after each turn first, then falls back to `eventually`'s polling.
 */
export async function soon<T>(check: () => T, timeoutMs = 3000): Promise<T> {
  for (let turn = 0; turn < 64; turn++) {
    try {
      return check();
    } catch {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return eventually(check, timeoutMs);
}

// --- typed errors ------------------------------------------------------------------------------

/** Throws unless `fn` returns, or throws an error `allowed` accepts; returns what it returned. */
export function returnsOrThrowsOnly<T>(
  fn: () => T,
  allowed: (err: unknown) => boolean,
  what: string,
): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (allowed(err)) return undefined;
    const e = err as Error;
    throw new Error(
      `${what} threw ${e?.name ?? typeof err}: ${e?.message ?? String(err)}\n${e?.stack ?? ''}`,
    );
  }
}

// --- crashes ---------------------------------------------------------------------------------

/**
 * Uncaught exceptions seen since the last check. `uncaughtExceptionMonitor` only observes: the
 * exception still does what it would (vitest reports it and fails the run; a plain process
 * exits). Watching lets the property that caused it fail on that very input, and shrink it.
 */
export class CrashWatch {
  readonly #seen: Error[] = [];
  readonly #listener = (err: Error) => this.#seen.push(err);
  total = 0;

  constructor() {
    process.on('uncaughtExceptionMonitor', this.#listener);
  }

  /** Throws (naming the first one) if the process had an uncaught exception since the last check. */
  check(): void {
    if (this.#seen.length === 0) return;
    const [first] = this.#seen.splice(0);
    this.total++;
    throw new Error(
      `the process had an uncaught exception (a crash outside a test): ${first.stack ?? first}`,
    );
  }

  close(): void {
    process.off('uncaughtExceptionMonitor', this.#listener);
  }
}

// --- memory -----------------------------------------------------------------------------------

/** VOXLINE_FUZZ_MAX_GROWTH_MB: how far the process may grow (RSS) over its size before the fuzzing. */
export const MAX_GROWTH_MB = numberFromEnv('VOXLINE_FUZZ_MAX_GROWTH_MB', 1024);

/**
 * Memory stays bounded: no input may leave the process more than MAX_GROWTH_MB bigger than it
 * was before the fuzzing (a runaway buffer fails the property on the input that crossed the line,
 * instead of taking the machine's memory).
 */
export class MemoryWatch {
  readonly startMb = process.memoryUsage().rss / 1e6;
  peakMb = this.startMb;

  check(): void {
    const now = process.memoryUsage().rss / 1e6;
    this.peakMb = Math.max(this.peakMb, now);
    if (now - this.startMb > MAX_GROWTH_MB)
      throw new Error(
        `memory grew from ${Math.round(this.startMb)} MB to ${Math.round(now)} MB (limit +${MAX_GROWTH_MB} MB)`,
      );
  }
}

// --- file descriptors ---------------------------------------------------------------------------

/** Open file descriptors of this process (sockets, files, pipes). Linux only. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * The descriptor count once it holds still (three reads in a row agree, `eventually`'s polls
 * apart): a connection closed a moment ago may still hold its descriptors for a turn or two, and
 * a baseline taken then would hide a leak of as many.
 */
export async function stableFds(): Promise<number> {
  let last = -1;
  let same = 0;
  return eventually(() => {
    const now = openFds();
    same = now === last ? same + 1 : 0;
    last = now;
    if (same < 2) throw new Error(`descriptor count still moving (${now})`);
    return now;
  }, 5000);
}

// --- HTTP without keep-alive ------------------------------------------------------------------

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * One request on its own connection, closed after the response (no agent, no keep-alive): a
 * pooled connection would hold two descriptors open after the run and spoil the count.
 */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Uint8Array | string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequestRaw(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        // Node frames a GET's body not at all unless told its length.
        headers: {
          connection: 'close',
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const result = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
          // Resolved once the connection is gone, so that it is not counted as open afterwards.
          if (res.socket.destroyed) resolve(result);
          else res.socket.once('close', () => resolve(result));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () =>
      req.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${url} in 10 s`)),
    );
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

// --- the gateway ---------------------------------------------------------------------------------

export const ADMIN_TOKEN = 'fuzz-admin-token-0123456789';

/**
 * One gateway with every edge on, on loopback: Twilio (signed), SIP over UDP and TCP, AudioSocket.
 * Logs at warn (the fuzz inputs make many), kept only at error level, which the tests watch.
 */
export async function startFuzzGateway(
  rtpPorts: string,
  env: Record<string, string> = {},
): Promise<{ gw: Gateway; errors: ErrorLogs }> {
  const gw = await startGateway({
    SIP_PORT: '0',
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: rtpPorts,
    AUDIOSOCKET_PORT: '0',
    AUDIOSOCKET_BIND: '127.0.0.1',
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    // Closing must not wait on a call a failed test left live (the default drain is 30 s).
    SHUTDOWN_DRAIN_MS: '1000',
    ...env,
  });
  return { gw, errors: new ErrorLogs(gw) };
}

/**
 * Error-level log lines (pino level 50 and up): voxline logs those when something failed inside
 * it (a request that failed, INVITE handling that threw, a consumer that threw), never for a
 * refusal of bad input, which is a warning. Other lines are dropped as they come (memory).
 */
export class ErrorLogs {
  readonly #gw: Gateway;
  readonly seen: Record<string, unknown>[] = [];

  constructor(gw: Gateway) {
    this.#gw = gw;
  }

  /** New error lines since the last call (and forgets the rest of the log). */
  take(): Record<string, unknown>[] {
    const fresh = this.#gw.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
    this.#gw.logs.length = 0;
    this.seen.push(...fresh);
    return fresh;
  }

  /** Throws if voxline logged an error since the last check. */
  check(): void {
    const fresh = this.take();
    if (fresh.length === 0) return;
    const first = fresh[0];
    const err = first.err as { type?: string; message?: string; stack?: string } | undefined;
    throw new Error(
      `voxline logged an error: ${String(first.msg)}${err ? ` — ${err.type}: ${err.message}\n${err.stack}` : ''}`,
    );
  }
}

// --- liveness ----------------------------------------------------------------------------------

const OPTIONS_TIMEOUT_MS = 5000;

/** The probe run after each input: GET /healthz is 200 and an OPTIONS over UDP gets its 200. */
export class Liveness {
  readonly #gw: Gateway;
  readonly #socket: UdpSocket;
  readonly #waiting = new Map<string, (response: SipResponse) => void>();
  #n = 0;
  probes = 0;

  private constructor(gw: Gateway, socket: UdpSocket) {
    this.#gw = gw;
    this.#socket = socket;
    socket.on('message', (data) => {
      try {
        const message = parseSipMessage(data);
        if (message.kind !== 'response') return;
        this.#waiting.get(message.headers.get('call-id') ?? '')?.(message);
      } catch {
        // not for us
      }
    });
  }

  static async open(gw: Gateway): Promise<Liveness> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new Liveness(gw, socket);
  }

  async check(): Promise<void> {
    this.probes++;
    const health = await httpRequest(`${this.#gw.baseUrl}/healthz`);
    if (health.status !== 200) throw new Error(`GET /healthz answered ${health.status}: ${health.body}`);
    if (this.#gw.edgePorts.sip === undefined) return;
    const callId = `probe-${++this.#n}@liveness`;
    const { port } = this.#socket.address();
    const options = [
      'OPTIONS sip:voxline@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKprobe${this.#n};rport`,
      'From: <sip:probe@127.0.0.1>;tag=probe',
      'To: <sip:voxline@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const answered = new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(callId);
        reject(new Error(`SIP OPTIONS over UDP got no answer in ${OPTIONS_TIMEOUT_MS} ms`));
      }, OPTIONS_TIMEOUT_MS);
      this.#waiting.set(callId, (response) => {
        if (response.status < 200) return;
        clearTimeout(timer);
        this.#waiting.delete(callId);
        resolve(response);
      });
    });
    this.#socket.send(options, this.#gw.edgePorts.sip, '127.0.0.1');
    const response = await answered;
    if (response.status !== 200) throw new Error(`SIP OPTIONS answered ${response.status}`);
  }

  close(): void {
    this.#socket.close();
  }
}

// --- the real call beside the fuzzing ------------------------------------------------------------

/** A deterministic, audible μ-law frame (not silence, so a mix-up of frames would show). */
function besideFrame(k: number): Uint8Array {
  const out = new Uint8Array(160);
  for (let i = 0; i < 160; i++) out[i] = (0x20 + ((k * 7 + i * 3) % 0x5f)) & 0xff;
  return out;
}

export interface BesideReport {
  readonly callSid: string;
  readonly sent: number;
  readonly tapFrames: number;
  readonly framesReceived: number;
  readonly audioSeconds: number;
  readonly gapFilledMs: number;
  readonly framesDropped: number;
  readonly malformed: number;
  readonly endReason: string | null;
  readonly closeCode: number;
  /** First 16 kHz sample where the tap differs from the sent audio decoded and upsampled (-1: none). */
  readonly firstDifference: number;
  readonly problems: readonly string[];
}

/**
 * A signed Twilio media stream (one inbound leg) that sends a 20 ms frame whenever told, on an
 * unbroken timeline. At the end every frame must have reached the core exactly once: the tap
 * sees `sent` frames of 20 ms, none made up, sample-exact, and the call's own counts agree.
 */
export class BesideCall {
  readonly callSid: string;
  readonly #gw: Gateway;
  readonly #raw: RawMediaSocket;
  readonly #sent: Uint8Array[] = [];
  #sequence = 1;

  private constructor(gw: Gateway, raw: RawMediaSocket, callSid: string) {
    this.#gw = gw;
    this.#raw = raw;
    this.callSid = callSid;
  }

  static async open(gw: Gateway, callSid: string): Promise<BesideCall> {
    const raw = await openMediaSocket(gw);
    raw.send(startMessage(callSid, { tracks: ['inbound'] }));
    const call = new BesideCall(gw, raw, callSid);
    await eventually(() => {
      if (!gw.app.registry.get(callSid)) throw new Error(`beside call ${callSid} did not start`);
    });
    return call;
  }

  get sent(): number {
    return this.#sent.length;
  }

  get open(): boolean {
    return this.#raw.socket.readyState === this.#raw.socket.OPEN;
  }

  /** Sends the next frame. */
  frame(): void {
    if (!this.open) throw new Error(`the call beside the fuzzing (${this.callSid}) lost its socket`);
    const k = this.#sent.length;
    const payload = besideFrame(k);
    this.#sent.push(payload);
    this.#raw.send(mediaMessage(this.callSid, ++this.#sequence, 'inbound', k * 20, payload));
  }

  /** Sends stop, waits for the close and the frames, and reports what arrived against what was sent. */
  async finish(): Promise<BesideReport> {
    this.#raw.send({
      event: 'stop',
      sequenceNumber: String(++this.#sequence),
      streamSid: `MZ${this.callSid.slice(2)}`,
      stop: { accountSid: 'ACtest', callSid: this.callSid },
    });
    const closed = await this.#raw.closed;
    const tap = this.#gw.tap;
    const key = `${this.callSid}/caller`;
    await eventually(() => {
      if (!tap.legs.get(key)?.ended) throw new Error('the beside call’s leg did not end');
    }, 10_000);
    const frames = tap.frames(this.callSid, 'caller');
    const snapshot = this.#gw.app.registry.get(this.callSid)?.snapshot();
    const leg = snapshot?.legs[0];
    const problems: string[] = [];
    const n = this.#sent.length;
    if (frames.length !== n) problems.push(`tap saw ${frames.length} frames, ${n} sent`);
    if (frames.some((f) => f.filled))
      problems.push(`${frames.filter((f) => f.filled).length} frames made up`);
    const durations = frames.reduce((ms, f) => ms + f.durationMs, 0);
    if (durations !== n * 20) problems.push(`tap frames last ${durations} ms, ${n * 20} sent`);
    if (frames.some((f, i) => f.startMs !== i * 20)) problems.push('tap frames are not on the sent timeline');
    const all = new Uint8Array(n * 160);
    for (const [i, p] of this.#sent.entries()) all.set(p, i * 160);
    const expected = new Upsampler8to16().pushPcm(mulawToPcm(all));
    const got = tap.pcm(this.callSid, 'caller');
    let firstDifference = got.length === expected.length ? -1 : Math.min(got.length, expected.length);
    for (let i = 0; i < Math.min(got.length, expected.length); i++) {
      if (got[i] !== expected[i]) {
        firstDifference = i;
        break;
      }
    }
    if (firstDifference !== -1) problems.push(`audio differs from 16 kHz sample ${firstDifference} on`);
    if (!snapshot || !leg) problems.push('no call snapshot');
    else {
      if (leg.framesReceived !== n) problems.push(`framesReceived ${leg.framesReceived}, ${n} sent`);
      if (leg.gapFilledMs !== 0) problems.push(`gapFilledMs ${leg.gapFilledMs}`);
      if (leg.framesDropped !== 0) problems.push(`framesDropped ${leg.framesDropped}`);
      if (snapshot.malformedMessages.total !== 0)
        problems.push(`malformed ${JSON.stringify(snapshot.malformedMessages)}`);
      if (snapshot.endReason !== 'stop') problems.push(`ended as ${snapshot.endReason}`);
    }
    if (closed.code !== 1000) problems.push(`socket closed with ${closed.code} ${closed.reason}`);
    return {
      callSid: this.callSid,
      sent: n,
      tapFrames: frames.length,
      framesReceived: leg?.framesReceived ?? -1,
      audioSeconds: leg?.audioSeconds ?? -1,
      gapFilledMs: leg?.gapFilledMs ?? -1,
      framesDropped: leg?.framesDropped ?? -1,
      malformed: snapshot?.malformedMessages.total ?? -1,
      endReason: snapshot?.endReason ?? null,
      closeCode: closed.code,
      firstDifference,
      problems,
    };
  }
}

// --- calls the fuzz inputs opened -------------------------------------------------------------------

/**
 * Ends every live call but `keep` (an INVITE, AudioSocket or Twilio input that was well-formed
 * enough to open one), and forgets the tap's frames of every call but `tapped` (memory). This is
 * test plumbing: the calls themselves are what voxline opened; ending them here is what a BYE
 * from the far end would do, for inputs whose far end will never send one.
 */
export async function endFuzzCalls(gw: Gateway, keep: ReadonlySet<string>, tapped: string): Promise<number> {
  let ended = 0;
  for (const call of gw.app.registry.live()) {
    if (keep.has(call.callSid)) continue;
    ended++;
    await call.hangUp(1000, 'fuzz input over', 'fuzz_cleanup');
  }
  for (const [key, leg] of gw.tap.legs) {
    if (key.startsWith(`${tapped}/`)) continue;
    // A live leg's consumer still holds this entry: empty it rather than drop it.
    leg.frames.length = 0;
    if (leg.ended) gw.tap.legs.delete(key);
  }
  return ended;
}

/** Waits until only `keep` is live and the descriptor count is back to `baseline` (or below). */
export async function settle(
  gw: Gateway,
  keep: ReadonlySet<string>,
  baseline: number,
  tapped: string,
): Promise<number> {
  await eventually(async () => {
    await endFuzzCalls(gw, keep, tapped);
    const live = gw.app.registry.live().filter((c) => !keep.has(c.callSid));
    if (live.length > 0) throw new Error(`${live.length} fuzz calls still live`);
  }, 10_000);
  return eventually(() => {
    const now = openFds();
    if (now > baseline) throw new Error(`${now} file descriptors open, ${baseline} before the fuzzing`);
    return now;
  }, 10_000);
}

/** One gateway, its probe and its beside call, for a test file; the test fuzzes between. */
export interface FuzzBench {
  readonly gw: Gateway;
  readonly errors: ErrorLogs;
  readonly liveness: Liveness;
  readonly crashes: CrashWatch;
  readonly memory: MemoryWatch;
  readonly beside: BesideCall;
  /** Descriptors open before the fuzzing (gateway, probe, beside call and the edge's own sockets). */
  readonly fdsBefore: number;
  /** Takes the descriptor count, once still, as the one to come back to (after opening an edge). */
  markBaseline(): Promise<void>;
  /** Calls to leave alone besides the beside call (an edge's own call). */
  keep(callSid: string): void;
  /** What must hold after each input: no crash, no error logged, the probe answers, one more beside frame. */
  afterInput(): Promise<void>;
}

let benchCalls = 0;

export async function openBench(rtpPorts: string, env: Record<string, string> = {}): Promise<FuzzBench> {
  const crashes = new CrashWatch();
  const { gw, errors } = await startFuzzGateway(rtpPorts, env);
  const liveness = await Liveness.open(gw);
  const beside = await BesideCall.open(gw, `CAbeside${String(++benchCalls).padStart(26, '0')}`);
  await liveness.check();
  const keep = new Set([beside.callSid]);
  const memory = new MemoryWatch();
  let fdsBefore = await stableFds();
  return {
    gw,
    errors,
    liveness,
    crashes,
    memory,
    beside,
    get fdsBefore() {
      return fdsBefore;
    },
    markBaseline: async () => {
      fdsBefore = await stableFds();
    },
    keep: (callSid) => keep.add(callSid),
    afterInput: async () => {
      crashes.check();
      await liveness.check();
      beside.frame();
      await endFuzzCalls(gw, keep, beside.callSid);
      crashes.check();
      errors.check();
      memory.check();
    },
  };
}

export interface BenchReport {
  readonly beside: BesideReport;
  readonly fdsBefore: number;
  readonly fdsAfter: number;
  /** Why it did not settle (fuzz calls still live, descriptors still open), if it did not. */
  readonly problems: readonly string[];
}

/** vitest timeout for the test that ends the fuzzing (settling waits up to 10 s twice). */
export const SETTLE_TIMEOUT_MS = 40_000;

/**
 * Ends the fuzzing: every fuzz call over and the descriptor count back to the baseline (waited
 * for: closing sockets takes a turn of the event loop or two), then the beside call's report.
 * Call before closing the edge's own sockets, which the baseline counts.
 */
export async function closeBench(bench: FuzzBench, keep: readonly string[] = []): Promise<BenchReport> {
  const all = new Set([bench.beside.callSid, ...keep]);
  const problems: string[] = [];
  const fdsAfter = await settle(bench.gw, all, bench.fdsBefore, bench.beside.callSid).catch((err: Error) => {
    problems.push(err.message);
    return openFds();
  });
  const beside = await bench.beside.finish();
  return { beside, fdsBefore: bench.fdsBefore, fdsAfter, problems };
}

/** Closes the gateway and removes its data directory (fuzz calls leave many recordings). */
export async function shutBench(bench: FuzzBench | undefined): Promise<void> {
  if (!bench) return;
  bench.liveness.close();
  bench.crashes.close();
  await bench.gw.close();
  rmSync(bench.gw.config.dataDir, { recursive: true, force: true });
}
