import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { mintStreamToken } from '../../src/carriers/telnyx/stream-token.js';
import { telnyxKeys } from '../doubles/telnyx-client.js';
import { expectLeftIntact } from './after-fuzzing.js';
import { applyTwilioEdits, type TwilioEdit, weirdNumber, weirdText } from './arbitraries.js';
import { nextId } from './edges.js';
import {
  ADMIN_TOKEN,
  type FuzzBench,
  fuzzParameters,
  httpRequest,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Telnyx media streaming: a WebSocket with a valid stream token per input, carrying a mutated
 * valid stream (connected, start, media on both tracks, dtmf, mark, error, stop, with fields
 * replaced, removed, retyped, repeated, reordered) or random JSON, text and binary frames. After
 * each the server stays up, logs no error, the call beside goes on; no handler throws (the edge's
 * failure counter stays at 0) and what was refused is counted as malformed.
 */

const SECRET = 'telnyx-fuzz-secret-0123456789abcdefgh';
const SILENCE_20MS = Buffer.alloc(160, 0xff).toString('base64');
type Frame = { readonly text: string } | { readonly binary: Uint8Array };

/** A valid stream for call `{call}`; the fuzzer edits it. */
function telnyxStream(frames: number): Record<string, unknown>[] {
  const media = (n: number, track: string) => ({
    event: 'media',
    sequence_number: String(2 + n),
    stream_id: 'stream-{call}',
    media: { track, chunk: String(n + 1), timestamp: String(n * 20), payload: SILENCE_20MS },
  });
  return [
    { event: 'connected', version: '1.0.0' },
    {
      event: 'start',
      sequence_number: '1',
      stream_id: 'stream-{call}',
      start: {
        call_control_id: '{call}',
        from: '+13122010094',
        to: '+13122123456',
        custom_parameters: { voxlineMode: 'transcribe', voxlineTracks: 'both' },
        media_format: { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
      },
    },
    ...Array.from({ length: frames }, (_, n) => media(n, n % 2 ? 'outbound' : 'inbound')),
    { event: 'dtmf', stream_id: 'stream-{call}', dtmf: { digit: '5' } },
    { event: 'mark', sequence_number: String(2 + frames), stream_id: 'stream-{call}', mark: { name: 'm' } },
    { event: 'error', stream_id: 'stream-{call}', payload: { code: 100002, title: 'x' } },
    { event: 'stop', sequence_number: String(3 + frames), stream_id: 'stream-{call}' },
  ];
}

const PATHS: readonly (readonly string[])[] = [
  ['event'],
  ['sequence_number'],
  ['stream_id'],
  ['start'],
  ['start', 'call_control_id'],
  ['start', 'custom_parameters'],
  ['start', 'custom_parameters', 'voxlineMode'],
  ['start', 'custom_parameters', 'voxlineTracks'],
  ['start', 'custom_parameters', 'inboundLabel'],
  ['start', 'media_format'],
  ['start', 'media_format', 'encoding'],
  ['start', 'media_format', 'sample_rate'],
  ['start', 'media_format', 'channels'],
  ['media'],
  ['media', 'track'],
  ['media', 'payload'],
  ['media', 'chunk'],
  ['dtmf', 'digit'],
  ['mark', 'name'],
  ['payload'],
];

const value: fc.Arbitrary<unknown> = fc.oneof(
  weirdText,
  weirdNumber,
  fc.constantFrom(
    'L16',
    'G722',
    'PCMA',
    'inbound_track',
    'outbound',
    'agent',
    'both',
    16000,
    48000,
    2,
    0,
    -1,
  ),
  fc.constantFrom(null, true, [], {}, 1e308, '999999999999999', 'AAA', '@@@@'),
  fc.jsonValue({ maxDepth: 2 }),
);

const edit: fc.Arbitrary<TwilioEdit> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('set' as const),
      message: fc.nat(20),
      path: fc.constantFrom(...PATHS),
      value,
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('delete' as const),
      message: fc.nat(20),
      path: fc.constantFrom(...PATHS),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('drop' as const), message: fc.nat(20) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('repeat' as const), message: fc.nat(20) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('swap' as const), a: fc.nat(20), b: fc.nat(20) }), weight: 1 },
);

const telnyxFrames: fc.Arbitrary<Frame[]> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 6 }), fc.array(edit, { maxLength: 4 }))
      .map(([frames, edits]) =>
        applyTwilioEdits(telnyxStream(frames), edits).map((m) => ({
          text: JSON.stringify(m) ?? 'undefined',
        })),
      ),
    weight: 8,
  },
  {
    arbitrary: fc.array(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })),
        fc.string({ maxLength: 200 }).map((text) => ({ text })),
        fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })),
      ),
      { maxLength: 6 },
    ),
    weight: 2,
  },
);

const EXAMPLES: [string, Frame[]][] = [
  [
    'a sequence number far ahead, then the rest',
    applyTwilioEdits(telnyxStream(4), [
      { op: 'set', message: 3, path: ['sequence_number'], value: '999999999999999' },
    ]).map((m) => ({ text: JSON.stringify(m) })),
  ],
  [
    'L16 with an odd payload',
    applyTwilioEdits(telnyxStream(2), [
      { op: 'set', message: 1, path: ['start', 'media_format', 'encoding'], value: 'L16' },
      { op: 'set', message: 2, path: ['media', 'payload'], value: 'AAA=' },
    ]).map((m) => ({ text: JSON.stringify(m) })),
  ],
  [
    'everything repeated, stop first',
    applyTwilioEdits(telnyxStream(3), [
      { op: 'swap', a: 1, b: 8 },
      { op: 'repeat', message: 3 },
      { op: 'repeat', message: 3 },
    ]).map((m) => ({ text: JSON.stringify(m) })),
  ],
];

async function metric(bench: FuzzBench, name: string): Promise<string[]> {
  // Its own connection, closed after: a pooled one would spoil the descriptor count.
  const { body } = await httpRequest(`${bench.gw.baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return body
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith(name));
}

describe('fuzz: Telnyx media streaming', () => {
  let bench: FuzzBench;
  const closeCodes = new Map<number, number>();

  async function send(frames: Frame[]): Promise<void> {
    const call = `v3:fuzz${String(nextId()).padStart(20, '0')}`;
    const token = mintStreamToken(SECRET, call, Math.floor(Date.now() / 1000) + 600);
    const socket = new WebSocket(`${bench.gw.baseUrl.replace('http', 'ws')}/telnyx/media?token=${token}`);
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('open', () => resolve());
      socket.once('error', () => resolve());
    });
    for (const frame of frames) {
      if (socket.readyState !== socket.OPEN) break;
      if ('text' in frame) socket.send(frame.text.replaceAll('{call}', call));
      else socket.send(Buffer.from(frame.binary), { binary: true });
    }
    if (socket.readyState === socket.OPEN) socket.close(1000, 'fuzz input over');
    const guard = setTimeout(() => socket.terminate(), 10_000);
    const code = await closed;
    clearTimeout(guard);
    closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
  }

  beforeAll(async () => {
    bench = await openBench('41000-41998', {
      TELNYX_PUBLIC_KEY: telnyxKeys().publicKeyBase64,
      TELNYX_STREAM_SECRET: SECRET,
    });
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: the server stays up', async (_name, frames) => {
    await send(frames);
    await bench.afterInput();
  });

  it(
    'mutated and random frames on a stream with a valid token: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(telnyxFrames, async (frames) => {
          await send(frames);
          await bench.afterInput();
        }),
        fuzzParameters(400),
      );
      // No input reached past the containment boundary; the refusals were counted, by reason.
      const failures = await metric(bench, 'voxline_edge_failures_total{ingress="telnyx"}');
      expect(failures.every((line) => line.endsWith(' 0'))).toBe(true);
      const malformed = await metric(bench, 'voxline_malformed_messages_total{');
      for (const reason of ['malformed_json', 'invalid_message', 'binary_frame'])
        expect(malformed.some((l) => l.includes(`reason="${reason}"`))).toBe(true);
      // Some streams went through to a normal end, others were closed for their frames.
      expect(closeCodes.get(1000)).toBeGreaterThan(0);
      expect([...closeCodes.keys()].some((code) => code === 1003 || code === 1008)).toBe(true);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'after the fuzzing: the call beside it has every frame exactly once, and no socket or file was left open',
    async () => {
      await expectLeftIntact(bench);
    },
    SETTLE_TIMEOUT_MS,
  );
});
