import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlivoStream, postAnswer } from '../doubles/plivo-client.js';
import { expectLeftIntact } from './after-fuzzing.js';
import { applyTwilioEdits, type TwilioEdit, weirdText } from './arbitraries.js';
import { nextId } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Plivo Audio Streaming: per input a call answered at /plivo/answer (so its stream URL carries a
 * real token) and a socket carrying a mutated valid stream (start, media on both tracks, dtmf,
 * playedStream, clearedAudio, stop with fields replaced, removed, retyped, repeated, reordered)
 * or random JSON, text and binary frames. After each the server stays up, logs no error, and the
 * call beside goes on; bad frames are counted as malformed, never thrown.
 */

const PLIVO_TOKEN = 'plivo-fuzz-token-0123456789abcdef';

type Frame = { readonly text: string } | { readonly binary: Uint8Array };

/** A valid stream for call `{sid}` (JSON values, before mutation). */
function plivoStream(frames: number): Record<string, unknown>[] {
  const streamId = 'stream-{sid}';
  const media = Array.from({ length: frames }, (_, i) => ({
    event: 'media',
    sequenceNumber: i + 2,
    streamId,
    media: {
      track: i % 2 ? 'outbound' : 'inbound',
      timestamp: String(1_705_312_200_000 + Math.floor(i / 2) * 20),
      chunk: Math.floor(i / 2) + 1,
      payload: Buffer.alloc(160, 0x55 + i).toString('base64'),
    },
    extra_headers: '',
  }));
  return [
    {
      event: 'start',
      sequenceNumber: 1,
      start: {
        callId: '{sid}',
        streamId,
        accountId: 'MAFUZZ0000000000000',
        tracks: ['inbound', 'outbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000 },
      },
      extra_headers: 'a=1,b=2',
    },
    ...media,
    { event: 'dtmf', sequenceNumber: frames + 2, streamId, dtmf: { digit: '5' } },
    { event: 'playedStream', sequenceNumber: frames + 3, name: 'cp-1' },
    { event: 'clearedAudio', sequenceNumber: frames + 4, streamId },
    { event: 'stop', sequenceNumber: frames + 5, streamId },
  ];
}

const PATHS = [
  ['event'],
  ['sequenceNumber'],
  ['streamId'],
  ['extra_headers'],
  ['start', 'callId'],
  ['start', 'streamId'],
  ['start', 'accountId'],
  ['start', 'tracks'],
  ['start', 'mediaFormat'],
  ['start', 'mediaFormat', 'encoding'],
  ['start', 'mediaFormat', 'sampleRate'],
  ['media', 'track'],
  ['media', 'chunk'],
  ['media', 'timestamp'],
  ['media', 'payload'],
  ['dtmf', 'digit'],
  ['name'],
] as const;

const VALUES: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1e15,
  1e16,
  Number.MAX_SAFE_INTEGER,
  '',
  '0',
  '-1',
  '1e15',
  '999999999999999',
  '1705312199990',
  '1705398600001',
  'NaN',
  'inbound',
  'outbound',
  'both',
  'audio/x-mulaw',
  'audio/x-l16',
  16000,
  [],
  ['inbound'],
  ['outbound'],
  ['inbound', 'inbound'],
  {},
  'ab!d',
  '////',
  '=',
  'A'.repeat(70),
  '\ud800',
  '__proto__=1,constructor=2',
];

const value: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...VALUES), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 2 },
  { arbitrary: weirdText, weight: 2 },
  { arbitrary: fc.base64String({ maxLength: 400 }), weight: 1 },
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

const plivoFrames: fc.Arbitrary<Frame[]> = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 6 }), fc.array(edit, { maxLength: 4 }))
      .map(([frames, edits]) =>
        applyTwilioEdits(plivoStream(frames), edits).map((m) => ({ text: JSON.stringify(m) ?? 'undefined' })),
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
    'media stamped 1e15 ms',
    [plivoStream(2)]
      .flatMap((s) =>
        applyTwilioEdits(s, [
          { op: 'set', message: 1, path: ['media', 'timestamp'], value: '999999999999999' },
        ]),
      )
      .map((m) => ({ text: JSON.stringify(m) })),
  ],
  [
    'media stamped before the first',
    [plivoStream(3)]
      .flatMap((s) =>
        applyTwilioEdits(s, [
          { op: 'set', message: 3, path: ['media', 'timestamp'], value: '1705312100000' },
        ]),
      )
      .map((m) => ({ text: JSON.stringify(m) })),
  ],
  [
    'a start with the same track twice',
    [plivoStream(1)]
      .flatMap((s) =>
        applyTwilioEdits(s, [
          { op: 'set', message: 0, path: ['start', 'tracks'], value: ['inbound', 'inbound'] },
        ]),
      )
      .map((m) => ({ text: JSON.stringify(m) })),
  ],
];

describe('fuzz: Plivo Audio Streaming', () => {
  let bench: FuzzBench;
  let sent = 0;
  const closeCodes = new Map<number, number>();

  async function deliver(frames: Frame[]): Promise<void> {
    sent++;
    const sid = `fuzz0000-0000-0000-0000-${String(nextId()).padStart(12, '0')}`;
    const answer = await postAnswer(`${bench.gw.baseUrl}/plivo/answer`, PLIVO_TOKEN, { CallUUID: sid });
    expect(answer.status).toBe(200);
    const plivo = await PlivoStream.open({ url: answer.stream?.url ?? '', callId: sid, tracks: ['inbound'] });
    for (const frame of frames) {
      if (plivo.socket.readyState !== plivo.socket.OPEN) break;
      if ('text' in frame) plivo.socket.send(frame.text.replaceAll('{sid}', sid));
      else plivo.socket.send(Buffer.from(frame.binary), { binary: true });
    }
    if (plivo.socket.readyState === plivo.socket.OPEN) plivo.socket.close(1000, 'fuzz input over');
    const guard = setTimeout(() => plivo.socket.terminate(), 10_000);
    const closed = await plivo.closed;
    clearTimeout(guard);
    closeCodes.set(closed.code, (closeCodes.get(closed.code) ?? 0) + 1);
  }

  beforeAll(async () => {
    bench = await openBench('52000-52998', { PLIVO_AUTH_TOKEN: PLIVO_TOKEN });
    // fetch keeps its connection to the answer URL open between inputs: it belongs in the baseline.
    await postAnswer(`${bench.gw.baseUrl}/plivo/answer`, PLIVO_TOKEN, { CallUUID: 'warmup00-0000' });
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: the server stays up', async (_name, frames) => {
    await deliver(frames);
    await bench.afterInput();
  });

  it(
    'mutated and random messages on a granted stream: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(plivoFrames, async (frames) => {
          await deliver(frames);
          await bench.afterInput();
        }),
        fuzzParameters(300),
      );
      // Bad frames were counted as malformed (by reason), and never ended the process.
      const metrics = (await bench.gw.get('/metrics')).body as string;
      for (const reason of ['invalid_message', 'malformed_json', 'unknown_event'])
        expect(metrics).toMatch(new RegExp(`voxline_malformed_messages_total\\{reason="${reason}"\\} [1-9]`));
      expect(closeCodes.get(1011) ?? 0).toBe(0); // no handler threw (1011: internal error)
      expect(sent).toBeGreaterThan(EXAMPLES.length);
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
