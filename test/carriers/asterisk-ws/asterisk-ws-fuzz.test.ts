import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeftIntact } from '../../fuzz/after-fuzzing.js';
import { PROPERTY_TIMEOUT_MS, SETTLE_TIMEOUT_MS, shutBench } from '../../fuzz/harness.js';
import { EdgeFuzz, socketUrl } from '../stream-edge-harness.js';
import { AsteriskChannel } from './asterisk-ws-client.js';

/*
 * Asterisk chan_websocket: a socket per input, past the secret (the upgrade is what it protects;
 * after it any frame may come), opened with a MEDIA_START that is valid (plain or JSON, each
 * format), mutated or missing, then any mix of audio of every length, oversized frames,
 * Asterisk's events with fields replaced, random JSON and text. After each the server stays up,
 * logs no error, the call beside goes on, and a call that opened kept every whole sample.
 */

const SECRET = 'asterisk-fuzz-shared-secret-0123';

type Frame =
  | { readonly kind: 'audio'; readonly bytes: number }
  | { readonly kind: 'big' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown };

interface Input {
  readonly format: 'ulaw' | 'alaw' | 'slin' | 'slin16';
  readonly control: 'plain' | 'json';
  readonly first: 'valid' | 'none' | { readonly text: string };
  readonly frames: readonly Frame[];
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.object({ maxDepth: 1 }),
);
const eventName = fc.constantFrom(
  'MEDIA_START',
  'DTMF_END',
  'MEDIA_XOFF',
  'MEDIA_XON',
  'MEDIA_MARK_PROCESSED',
  'QUEUE_DRAINED',
  'STATUS',
  'ERROR',
  'HANGUP',
);
const mutatedEvent = fc.record({
  event: fc.oneof(eventName, anyValue),
  digit: fc.option(fc.oneof(fc.constantFrom('5', '#', 'A', '55', ''), anyValue), { nil: undefined }),
  connection_id: fc.option(anyValue, { nil: undefined }),
  format: fc.option(fc.oneof(fc.constantFrom('ulaw', 'slin16', 'opus', 'slin48'), anyValue), {
    nil: undefined,
  }),
  optimal_frame_size: fc.option(fc.oneof(fc.constantFrom(160, 640, 0, -1, 65_501), anyValue), {
    nil: undefined,
  }),
  correlation_id: fc.option(anyValue, { nil: undefined }),
  channel_variables: fc.option(anyValue, { nil: undefined }),
});
const plainEvent = fc
  .tuple(
    eventName,
    fc.array(
      fc.tuple(
        fc.constantFrom('digit', 'format', 'connection_id', 'optimal_frame_size', 'x'),
        fc.string({ maxLength: 8 }),
      ),
      { maxLength: 4 },
    ),
  )
  .map(([name, fields]) => [name, ...fields.map(([k, v]) => `${k}:${v}`)].join(' '));

const frame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 1281 }).map((bytes) => ({ kind: 'audio' as const, bytes })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'big' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.string({ maxLength: 60 }), plainEvent)
      .map((text) => ({ kind: 'text' as const, text })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(mutatedEvent, fc.jsonValue({ maxDepth: 2 }))
      .map((value) => ({ kind: 'json' as const, value })),
  },
);

const input: fc.Arbitrary<Input> = fc.record({
  format: fc.constantFrom('ulaw' as const, 'alaw' as const, 'slin' as const, 'slin16' as const),
  control: fc.constantFrom('plain' as const, 'json' as const),
  first: fc.oneof(
    { weight: 4, arbitrary: fc.constant('valid' as const) },
    { weight: 1, arbitrary: fc.constant('none' as const) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          plainEvent,
          mutatedEvent.map((v) => JSON.stringify(v)),
        )
        .map((text) => ({ text })),
    },
  ),
  frames: fc.array(frame, { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: Asterisk chan_websocket', () => {
  const fuzzing = new EdgeFuzz(send);

  beforeAll(
    () => fuzzing.open('57000-57998', { ASTERISK_WS_SECRET: SECRET, MAX_MALFORMED_PER_CALL: '15' }),
    30_000,
  );
  afterAll(() => shutBench(fuzzing.bench));

  async function send(fuzz: Input): Promise<void> {
    const channelId = `1760009999.${++calls}`;
    const callSid = channelId.replace('.', '-');
    const mode = calls % 3 === 0 ? 'agent' : 'transcribe';
    const channel = await AsteriskChannel.connect({
      url: `${socketUrl(fuzzing.bench.gw, '/asterisk/media')}?mode=${mode}`,
      password: SECRET,
      format: fuzz.format,
      control: fuzz.control,
      channelId,
      start: fuzz.first === 'valid',
    });
    if (typeof fuzz.first === 'object') channel.sendText(fuzz.first.text);
    const sampleBytes = fuzz.format === 'slin' || fuzz.format === 'slin16' ? 2 : 1;
    const rate = fuzz.format === 'slin16' ? 16000 : 8000;
    let samples = 0;
    for (const f of fuzz.frames) {
      if (!channel.open) break;
      switch (f.kind) {
        case 'audio':
          channel.sendRaw(Buffer.alloc(f.bytes, 0x55), true);
          samples += Math.floor(f.bytes / sampleBytes);
          break;
        case 'big':
          channel.sendRaw(Buffer.alloc(65_502), true);
          break;
        case 'text':
          channel.sendRaw(f.text, false);
          break;
        case 'json':
          channel.sendRaw(JSON.stringify(f.value), false);
          break;
      }
    }
    const call = await fuzzing.hangUp(channel, callSid, fuzz.first === 'valid');
    if (call) expect(call.snapshot().legs[0]?.audioSeconds).toBeCloseTo(samples / rate, 6);
  }

  it('a valid start, a mutated start and no start, each followed by one of every bad frame: the server stays up', async () => {
    const every: Frame[] = [
      { kind: 'audio', bytes: 3 },
      { kind: 'big' },
      { kind: 'text', text: 'DTMF_END digit:55' },
      { kind: 'text', text: 'MEDIA_START connection_id:x format:opus optimal_frame_size:0' },
      { kind: 'json', value: { event: 'MEDIA_MARK_PROCESSED', correlation_id: 5 } },
      { kind: 'text', text: '' },
    ];
    for (const first of ['valid', { text: 'MEDIA_START format:ulaw' }, 'none'] as const) {
      await fuzzing.input({ format: 'slin16', control: 'plain', first, frames: every });
    }
  });

  it(
    'mutated and random frames past the secret: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fuzzing.property(input);
      expect([...fuzzing.closeCodes].every((code) => [1000, 1003, 1008].includes(code))).toBe(true);
      expect(fuzzing.checked).toBeGreaterThan(20);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'after the fuzzing: the call beside it has every frame exactly once, and no socket or file was left open',
    async () => {
      await expectLeftIntact(fuzzing.bench);
    },
    SETTLE_TIMEOUT_MS,
  );
});
