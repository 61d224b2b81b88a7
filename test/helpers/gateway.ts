import { mkdtempSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { WebSocket } from 'ws';
import { type App, type AppDeps, buildApp } from '../../src/app.js';
import type { AudioFrame } from '../../src/audio/frame.js';
import type { CallSnapshot } from '../../src/calls/call.js';
import type { LegConsumerFactory } from '../../src/calls/call-registry.js';
import { type Config, loadConfig } from '../../src/config.js';
import { LOG_REDACTION } from '../../src/observability/log-redaction.js';

export const AUTH_TOKEN = 'test-auth-token-0123456789';

/**
 * A port nothing listens on now, for a server a test starts later (or never: "the server is down").
 * The port is released before it is used, so prefer binding port 0 and reading the port bound.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Records every AudioFrame each leg emits, and whether the leg ended. */
export class FrameTap {
  readonly legs = new Map<string, { frames: AudioFrame[]; ended: boolean }>();

  readonly factory: LegConsumerFactory = (call, leg) => {
    const entry = { frames: [] as AudioFrame[], ended: false };
    this.legs.set(`${call.callSid}/${leg.label}`, entry);
    // The leg lends frame.pcm for the duration of push(): a consumer that keeps it copies it.
    return {
      push: (frame) => entry.frames.push({ ...frame, pcm: frame.pcm.slice() }),
      end: () => {
        entry.ended = true;
      },
    };
  };

  frames(callSid: string, leg: string): AudioFrame[] {
    return this.legs.get(`${callSid}/${leg}`)?.frames ?? [];
  }

  /** The leg's 16 kHz PCM, frames concatenated. */
  pcm(callSid: string, leg: string): Int16Array {
    const frames = this.frames(callSid, leg);
    const out = new Int16Array(frames.reduce((n, f) => n + f.pcm.length, 0));
    let at = 0;
    for (const frame of frames) {
      out.set(frame.pcm, at);
      at += frame.pcm.length;
    }
    return out;
  }
}

export interface Gateway {
  readonly app: App;
  readonly config: Config;
  readonly baseUrl: string;
  readonly mediaUrl: string;
  readonly tap: FrameTap;
  /** Ports the SIP and AudioSocket listeners bound (configure port 0 to get a free one). */
  readonly edgePorts: Awaited<ReturnType<App['startEdges']>>;
  /** Log lines written so far, parsed. */
  readonly logs: Record<string, unknown>[];
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON of many shapes; assertions check it.
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  call(callSid: string): Promise<CallSnapshot>;
  close(): Promise<void>;
}

/**
 * A real voxline on 127.0.0.1, Twilio validation on, silent apart from `logs`. It listens on port 0
 * and reads the port the OS bound (no find-then-release race); PUBLIC_URL follows that port.
 */
export async function startGateway(
  env: Record<string, string | undefined> = {},
  consumers: LegConsumerFactory[] = [],
  deps: Omit<AppDeps, 'logger' | 'consumers'> = {},
): Promise<Gateway> {
  let port = 0;
  const loaded = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_URL: 'http://127.0.0.1',
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    LOG_LEVEL: 'debug',
    // Each gateway gets its own data directory (outbox, recordings), removed by the OS's tmp cleaning.
    DATA_DIR: env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'voxline-test-')),
    // With no engine named, voxline would load the in-process model from the Hub: tests name one.
    ...(env.VLLM_URL || env.MISTRAL_API_KEY ? {} : { ASR_ENGINE: 'none' }),
    // The load governor off: a busy test machine's event-loop lag must not refuse a test's calls
    // (test/calls/overload.test.ts turns it on, with a sampler it drives).
    OVERLOAD_MAX_LAG_MS: '0',
    ...env,
  });
  // The port is known only once bound: PUBLIC_URL (read per request) is that of the bound port.
  const config: Config =
    env.PUBLIC_URL === undefined
      ? Object.freeze(
          Object.defineProperty({ ...loaded }, 'publicUrl', {
            enumerable: true,
            get: () => `http://127.0.0.1:${port}`,
          }),
        )
      : loaded;
  const logs: Record<string, unknown>[] = [];
  const duplicateKeys: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line);
        // A key bound by a child logger and given again in the call (e.g. `leg`) is written twice.
        if (JSON.stringify(entry).length !== line.length) duplicateKeys.push(line);
        logs.push(entry);
      }
      done();
    },
  });
  const tap = new FrameTap();
  const app = await buildApp(config, {
    // Redacting as the production logger does (app.ts), so tests see what operators would.
    logger: pino({ level: config.logLevel, redact: LOG_REDACTION }, sink),
    consumers: [tap.factory, ...consumers],
    ...deps,
  });
  await app.server.listen({ port: Number(env.PORT ?? 0), host: '127.0.0.1' });
  port = (app.server.server.address() as AddressInfo).port;
  const edgePorts = await app.startEdges();
  const baseUrl = `http://127.0.0.1:${port}`;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, { headers });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: response.status, body };
  };
  return {
    app,
    config,
    baseUrl,
    mediaUrl: `ws://127.0.0.1:${port}/twilio/media`,
    tap,
    edgePorts,
    logs,
    get,
    call: async (callSid) => (await get(`/v1/calls/${callSid}`)).body as CallSnapshot,
    close: async () => {
      await app.server.close();
      if (duplicateKeys.length > 0) {
        throw new Error(`log lines with a key written twice:\n${duplicateKeys.slice(0, 3).join('\n')}`);
      }
    },
  };
}

/** A hand-driven media socket, for frames the simulator would never send. */
export interface RawMediaSocket {
  readonly socket: WebSocket;
  send(message: unknown): void;
  sendRaw(data: string | Buffer, binary?: boolean): void;
  /** Resolves with the close code and reason (or the HTTP status when the upgrade was refused). */
  readonly closed: Promise<{ code: number; reason: string; httpStatus?: number }>;
}

export async function openMediaSocket(
  gateway: Gateway,
  options: { signed?: boolean; signature?: string } = {},
): Promise<RawMediaSocket> {
  const headers: Record<string, string> = {};
  if (options.signature) headers['x-twilio-signature'] = options.signature;
  else if (options.signed !== false)
    headers['x-twilio-signature'] = getExpectedTwilioSignature(AUTH_TOKEN, gateway.mediaUrl, {});
  const socket = new WebSocket(gateway.mediaUrl, { headers });
  const closed = new Promise<{ code: number; reason: string; httpStatus?: number }>((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    socket.once('unexpected-response', (_request, response) => {
      resolve({ code: 0, reason: '', httpStatus: response.statusCode });
      socket.terminate();
    });
    socket.once('error', () => undefined);
  });
  await Promise.race([new Promise((resolve) => socket.once('open', resolve)), closed]);
  return {
    socket,
    send: (message) => socket.send(JSON.stringify(message)),
    sendRaw: (data, binary = false) => socket.send(data, { binary }),
    closed,
  };
}

/** A Twilio `start` message for a two-track stream. */
export function startMessage(callSid: string, overrides: Record<string, unknown> = {}) {
  return {
    event: 'start',
    sequenceNumber: '1',
    streamSid: `MZ${callSid.slice(2)}`,
    start: {
      accountSid: 'ACtest',
      streamSid: `MZ${callSid.slice(2)}`,
      callSid,
      tracks: ['inbound', 'outbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: {},
      ...overrides,
    },
  };
}

export function mediaMessage(
  callSid: string,
  sequence: number,
  track: string,
  timestampMs: number,
  payload: Uint8Array,
) {
  return {
    event: 'media',
    sequenceNumber: String(sequence),
    streamSid: `MZ${callSid.slice(2)}`,
    media: {
      track,
      chunk: String(sequence),
      timestamp: String(timestampMs),
      payload: Buffer.from(payload).toString('base64'),
    },
  };
}

/** Polls until `check` passes (or throws its last error after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
