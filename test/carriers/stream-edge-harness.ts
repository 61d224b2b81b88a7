import fc from 'fast-check';
import { expect } from 'vitest';
import type { WebSocket } from 'ws';
import { mulawToPcm } from '../../src/audio/g711.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import type { Call } from '../../src/calls/call.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { type FuzzBench, fuzzParameters, openBench } from '../fuzz/harness.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { type DemoCall, demoCall, pcm16Channel, playDemo } from '../helpers/media.js';
import { firstDifference } from '../helpers/signal.js';
import { type Event, SECRET, TestReceiver } from '../helpers/webhooks.js';

/*
 * What the tests of the carrier edges that stream over a WebSocket share (jambonz, SignalWire,
 * FreeSWITCH, Asterisk chan_websocket, Exotel, Plivo, Telnyx, Vonage): the carrier doubles'
 * socket plumbing, a gateway with the engine double and a webhook receiver, the reads every call
 * test makes, and the fuzz loop the edges' fuzz files run on test/fuzz/harness.ts's bench.
 */

// --- the carrier doubles' sockets ------------------------------------------------------------------

/** How a carrier double's socket ended: the close code and reason, or a refused upgrade's status. */
export interface EdgeClosed {
  readonly code: number;
  readonly reason: string;
  readonly httpStatus?: number;
}

/**
 * Resolves once `socket` has ended. A refused upgrade is an outcome the tests check (401, 400),
 * not an error: it resolves with the HTTP status, and socket errors are left to the close.
 */
export function whenClosed(socket: WebSocket): Promise<EdgeClosed> {
  return new Promise((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    socket.once('unexpected-response', (_request, response) => {
      resolve({ code: 0, reason: '', httpStatus: response.statusCode });
      socket.terminate();
    });
    socket.once('error', () => undefined);
  });
}

/** Waits until `socket` is open or has ended (so a test can open a socket the edge refuses). */
export async function whenOpen(socket: WebSocket, closed: Promise<EdgeClosed>): Promise<void> {
  await Promise.race([new Promise((resolve) => socket.once('open', resolve)), closed]);
}

/**
 * Streams channels (one, or caller and callee) as binary L16 little-endian frames of `perFrame`
 * samples, interleaved when two, while the socket is open, as jambonz and FreeSWITCH send audio.
 * Returns the frames sent.
 */
export async function streamL16(
  socket: WebSocket,
  channels: readonly Int16Array[],
  perFrame: number,
): Promise<number> {
  const length = channels[0].length;
  let frames = 0;
  for (let at = 0; at < length && socket.readyState === socket.OPEN; at += perFrame) {
    const n = Math.min(perFrame, length - at);
    const bytes = Buffer.alloc(n * 2 * channels.length);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < channels.length; c++)
        bytes.writeInt16LE(channels[c][at + i], 2 * (i * channels.length + c));
    }
    socket.send(bytes, { binary: true });
    if (++frames % 50 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the socket drain
  }
  return frames;
}

/** ws:// URL of `path` on the gateway. */
export function socketUrl(gateway: Gateway, path: string): string {
  return `${gateway.baseUrl.replace(/^http/, 'ws')}${path}`;
}

// --- what voxline must hand on ---------------------------------------------------------------------

/** G.711 μ-law to 8 kHz linear, decoded here (not with voxline's codec). */
export function mulawTo8k(mulaw: Uint8Array): Int16Array {
  const out = new Int16Array(mulaw.length);
  for (let i = 0; i < mulaw.length; i++) {
    const u = ~mulaw[i] & 0xff;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84;
    out[i] = u & 0x80 ? -magnitude : magnitude;
  }
  return out;
}

/** A carrier's μ-law leg of `frames` 20 ms frames (silence-padded), decoded and upsampled in one go. */
export function expected16k(mulaw: Uint8Array, frames: number): Int16Array {
  const padded = new Uint8Array(frames * 160).fill(0xff);
  padded.set(mulaw.subarray(0, padded.length));
  return new Upsampler8to16().pushPcm(mulawToPcm(padded));
}

/** What a demo call's leg says, per its manifest. */
export function spoken(call: DemoCall, leg: 'caller' | 'agent'): string {
  return call.segments
    .filter((s) => s.leg === leg)
    .map((s) => s.text)
    .join(' ');
}

// --- a gateway for one edge ------------------------------------------------------------------------

const ADMIN_TOKEN = 'stream-edge-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** The calls a call test plays, for the engine double to recognise. */
const DEMO_CALLS = ['support-call', 'greeting'];

/** A gateway with the vLLM realtime double and a real webhook receiver, and the reads the tests make. */
export interface EdgeGateway extends Gateway {
  readonly vllm: VllmRealtimeDouble;
  readonly receiver: TestReceiver;
  /** GET with the admin token. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON of many shapes; assertions check it.
  v1(path: string): Promise<{ status: number; body: any }>;
  /** The call's webhooks so far, in order. */
  eventsOf(callSid: string): Event[];
  /** The call's webhooks once call.ended and recording.ready are among them. */
  ended(callSid: string): Promise<Event[]>;
  /** The call's recording, once there. */
  recording(callSid: string): Promise<Buffer>;
  /** The call's transcript, once complete. */
  // biome-ignore lint/suspicious/noExplicitAny: as v1.
  transcript(callSid: string): Promise<any>;
  /** Once the transcript is complete: a speaker's words (empty finals, the double cutting at a pause, skipped). */
  transcriptOf(callSid: string): Promise<(speaker: string) => string>;
}

/**
 * A real voxline with the edge's `env` on, transcribing with the vLLM realtime double (which
 * recognises the demo calls, or `reference`), sending signed webhooks to a real receiver, recording
 * in PCM16 (so a test can compare the recording sample for sample) and its API behind an admin
 * token (env may unset it: `ADMIN_TOKEN: undefined`).
 */
export async function startEdgeGateway(
  env: Record<string, string | undefined>,
  reference = new ReferenceAudio(DEMO_CALLS.map((id) => demoCall(id))),
): Promise<EdgeGateway> {
  const vllm = new VllmRealtimeDouble({ reference });
  await vllm.listen();
  const receiver = new TestReceiver();
  const gateway = await startGateway({
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    RECORDING_FORMAT: 'pcm16',
    ADMIN_TOKEN,
    ...env,
  });
  const v1 = (path: string) => gateway.get(path, AUTH);
  const eventsOf = (callSid: string) =>
    receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
  const transcript = async (callSid: string) =>
    eventually(async () => {
      const { body } = await v1(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
  return {
    ...gateway,
    vllm,
    receiver,
    v1,
    eventsOf,
    ended: (callSid) =>
      eventually(() => {
        const events = eventsOf(callSid);
        expect(events.map((e) => e.type)).toContain('call.ended');
        expect(events.map((e) => e.type)).toContain('recording.ready');
        return events;
      }, 20_000),
    recording: (callSid) =>
      eventually(async () => {
        const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, { headers: AUTH });
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }, 20_000),
    transcript,
    transcriptOf: async (callSid) => {
      const { utterances } = await transcript(callSid);
      return (speaker) =>
        utterances
          .filter((u: { speaker: string; text: string }) => u.speaker === speaker && u.text !== '')
          .map((u: { text: string }) => u.text)
          .join(' ');
    },
    close: async () => {
      await gateway.close();
      await Promise.all([vllm.close(), receiver.close()]);
    },
  };
}

/** A speaker's words in the call's transcript.final webhooks (empty finals carry none). */
export function finalsBy(events: readonly Event[], speaker: string): string {
  return events
    .filter((e) => e.type === 'transcript.final' && e.data.speaker === speaker && e.data.text !== '')
    .map((e) => e.data.text)
    .join(' ');
}

/** The webhooks' types, finals aside (where the double cuts them depends on pacing). */
const shape = (events: readonly Event[]) => events.map((e) => e.type).filter((t) => t !== 'transcript.final');

/**
 * Plays the support call over Twilio into the same gateway, the reference every edge is held to,
 * and expects the same webhooks as the edge's call gave (`events`). Returns Twilio's call.
 */
export async function expectSameAsTwilio(
  gateway: EdgeGateway,
  events: readonly Event[],
  overrides: Parameters<typeof playDemo>[2],
): Promise<{ callSid: string; events: Event[] }> {
  const twilio = await playDemo(gateway, 'support-call', overrides);
  const twilioEvents = await gateway.ended(twilio.callSid);
  expect(shape(events)).toEqual(shape(twilioEvents));
  return { callSid: twilio.callSid, events: twilioEvents };
}

/**
 * Both legs of a call reached the core (the tap) and the recording (caller left, agent right) as
 * `expected`, sample for sample: what every edge must hand on.
 */
export async function expectBothLegsExact(
  gateway: EdgeGateway,
  callSid: string,
  expected: { readonly caller: Int16Array; readonly agent: Int16Array },
): Promise<void> {
  const wav = await gateway.recording(callSid);
  for (const [channel, leg] of [
    [0, 'caller'],
    [1, 'agent'],
  ] as const) {
    expect(firstDifference(gateway.tap.pcm(callSid, leg), expected[leg])).toBe(-1);
    expect(firstDifference(pcm16Channel(wav, channel), expected[leg])).toBe(-1);
  }
}

// --- fuzzing an edge -------------------------------------------------------------------------------

/** Any small JSON-ish value, to put in a field of a carrier's message. */
export const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

/** The carrier double of a fuzz input: it has a socket, and knows how it ended. */
interface FuzzClient {
  readonly socket: WebSocket;
  readonly open: boolean;
  readonly closed: Promise<EdgeClosed>;
}

/**
 * One edge's fuzz file: the bench (test/fuzz/harness.ts: liveness probe, the call beside, the
 * descriptor count), the codes the inputs' sockets closed with, and how many inputs opened a call
 * whose counts were checked (a test expects enough of them, so that the fuzzing reached calls).
 */
export class EdgeFuzz<I> {
  bench!: FuzzBench;
  readonly closeCodes = new Set<number>();
  checked = 0;
  readonly #send: (input: I) => Promise<void>;

  /** `send` plays one input on `this.bench`'s gateway, ending it with `hangUp`. */
  constructor(send: (input: I) => Promise<void>) {
    this.#send = send;
  }

  /** For beforeAll: the bench, with the edge on (`env`), and the descriptor baseline taken. */
  async open(rtpPorts: string, env: Record<string, string>): Promise<void> {
    this.bench = await openBench(rtpPorts, env);
    await this.bench.markBaseline();
  }

  /** One input, then what must hold after every input (no crash, no error logged, still serving). */
  async input(input: I): Promise<void> {
    await this.#send(input);
    await this.bench.afterInput();
  }

  /** Up to `runs` fast-check inputs (seed and time budget from the environment), each as `input`. */
  async property(arbitrary: fc.Arbitrary<I>, runs = 300): Promise<void> {
    await fc.assert(
      fc.asyncProperty(arbitrary, (input) => this.input(input)),
      fuzzParameters(runs),
    );
  }

  /**
   * Hangs up as the carrier does (closes with 1000; a socket still open after 10 s is terminated)
   * and keeps the close code. Returns the input's call, once ended, when its counts are the
   * test's to check: `wellStarted` (the input opened it properly) and voxline kept the socket open
   * until the hang-up, which it then took cleanly.
   */
  async hangUp(client: FuzzClient, callSid: string, wellStarted: boolean): Promise<Call | undefined> {
    const closedByUs = client.open;
    const guard = setTimeout(() => client.socket.terminate(), 10_000);
    if (client.open) client.socket.close(1000);
    const closed = await client.closed;
    clearTimeout(guard);
    this.closeCodes.add(closed.code);
    const call = this.bench.gw.app.registry.get(callSid);
    if (!call || !closedByUs || !wellStarted || closed.code !== 1000) return undefined;
    await eventually(() => expect(call.state).toBe('ended'));
    this.checked++;
    return call;
  }
}

/** A frame of a fuzz input to an edge that takes binary L16 (jambonz, FreeSWITCH). */
export type L16Frame =
  | { readonly kind: 'audio'; readonly frames: number }
  | { readonly kind: 'odd'; readonly bytes: number }
  | { readonly kind: 'big' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown };

/** L16 frames: audio of up to `maxFrames` sample frames, partial samples, oversized, text, `json`. */
export function l16Frame(maxFrames: number, json: fc.Arbitrary<unknown>): fc.Arbitrary<L16Frame> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.integer({ min: 0, max: maxFrames }).map((frames) => ({ kind: 'audio' as const, frames })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 1281 }).map((bytes) => ({ kind: 'odd' as const, bytes })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'big' as const }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ kind: 'text' as const, text })) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(json, fc.jsonValue({ maxDepth: 2 }))
        .map((value) => ({ kind: 'json' as const, value })),
    },
  );
}

/**
 * Sends L16 frames of `channels` interleaved channels while the socket is open. Returns what the
 * call must show for them: at least `surelyMalformed` frames counted malformed (a partial sample,
 * one over the size limit), and `samples` sample frames kept (an odd frame's whole ones too).
 */
export function sendL16Frames(
  client: { readonly open: boolean; sendRaw(data: string | Buffer, binary: boolean): void },
  frames: readonly L16Frame[],
  channels: number,
): { surelyMalformed: number; samples: number } {
  let surelyMalformed = 0;
  let samples = 0;
  for (const f of frames) {
    if (!client.open) break;
    switch (f.kind) {
      case 'audio':
        client.sendRaw(Buffer.alloc(f.frames * 2 * channels, 7), true);
        samples += f.frames;
        break;
      case 'odd': {
        const bytes = f.bytes % (2 * channels) === 0 ? f.bytes + 1 : f.bytes;
        client.sendRaw(Buffer.alloc(bytes, 3), true);
        samples += Math.floor(bytes / (2 * channels));
        surelyMalformed++;
        break;
      }
      case 'big':
        client.sendRaw(Buffer.alloc(64_004), true);
        surelyMalformed++;
        break;
      case 'text':
        client.sendRaw(f.text, false);
        break;
      case 'json':
        client.sendRaw(JSON.stringify(f.value), false);
        break;
    }
  }
  return { surelyMalformed, samples };
}
