import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeftIntact } from '../../fuzz/after-fuzzing.js';
import { PROPERTY_TIMEOUT_MS, SETTLE_TIMEOUT_MS, shutBench } from '../../fuzz/harness.js';
import { anyValue, EdgeFuzz, socketUrl } from '../stream-edge-harness.js';
import { type Codec, SignalWireStream } from './signalwire-stream-client.js';

/*
 * SignalWire streams: a socket per input, past the bearer token (the upgrade is what it
 * protects; after it any frame may come), of every codec, with a start that is right, mutated or
 * missing, then any mix of well-formed media (odd L16 lengths, oversized payloads, bad base64,
 * wrong streams and tracks), dtmf and marks with mutated fields, binary frames and random JSON.
 * After each the server stays up, logs no error, the call beside goes on, and a call that opened
 * counted at least the frames that are surely malformed.
 */

const SIGNING_KEY = 'PSK_signalwire-fuzz-signing-key-0123';
const TOKEN = 'signalwire-fuzz-stream-token-0123456';

type Frame =
  | { readonly kind: 'media'; readonly bytes: number; readonly track: string }
  | { readonly kind: 'odd' }
  | { readonly kind: 'big' }
  | { readonly kind: 'base64' }
  | { readonly kind: 'binary'; readonly bytes: number }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown };

interface Input {
  readonly codec: Codec;
  readonly start: 'right' | 'none' | { readonly value: unknown };
  readonly frames: readonly Frame[];
}

const mutated = fc.record({
  event: fc.oneof(fc.constantFrom('start', 'media', 'dtmf', 'mark', 'stop', 'connected', 'clear'), anyValue),
  sequenceNumber: fc.option(fc.oneof(fc.constantFrom('1', '99999'), anyValue), { nil: undefined }),
  streamSid: fc.option(anyValue, { nil: undefined }),
  media: fc.option(fc.record({ track: anyValue, chunk: anyValue, timestamp: anyValue, payload: anyValue }), {
    nil: undefined,
  }),
  dtmf: fc.option(
    fc.record({ track: anyValue, digit: fc.oneof(fc.constantFrom('5', '#', '55', ''), anyValue) }),
    {
      nil: undefined,
    },
  ),
  mark: fc.option(fc.record({ name: anyValue }), { nil: undefined }),
});

const frame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('media' as const),
      bytes: fc.integer({ min: 1, max: 480 }).map((n) => n * 2),
      track: fc.constantFrom('inbound_track', 'inbound', 'outbound_track', 'elsewhere'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'odd' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'big' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'base64' as const }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 200 }).map((bytes) => ({ kind: 'binary' as const, bytes })),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ kind: 'text' as const, text })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(mutated, fc.jsonValue({ maxDepth: 2 }))
      .map((value) => ({ kind: 'json' as const, value })),
  },
);

const input: fc.Arbitrary<Input> = fc.record({
  codec: fc.constantFrom('PCMU@8000h' as const, 'L16@16000h' as const, 'L16@24000h' as const),
  start: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('right' as const, 'none' as const) },
    { weight: 1, arbitrary: fc.oneof(mutated, fc.jsonValue({ maxDepth: 2 })).map((value) => ({ value })) },
  ),
  frames: fc.array(frame, { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: SignalWire streams', () => {
  const fuzzing = new EdgeFuzz(send);

  beforeAll(
    () =>
      fuzzing.open('61000-61998', {
        SIGNALWIRE_SIGNING_KEY: SIGNING_KEY,
        SIGNALWIRE_STREAM_TOKEN: TOKEN,
        MAX_MALFORMED_PER_CALL: '15',
      }),
    30_000,
  );
  afterAll(() => shutBench(fuzzing.bench));

  async function send(fuzz: Input): Promise<void> {
    const callSid = `CAswfuzz${String(++calls).padStart(24, '0')}`;
    const stream = await SignalWireStream.open({
      url: socketUrl(fuzzing.bench.gw, '/signalwire/media'),
      token: TOKEN,
      codec: fuzz.codec,
      callSid,
      tracks: ['inbound_track'],
    });
    stream.connected();
    if (fuzz.start === 'right') stream.start();
    else if (fuzz.start !== 'none') stream.sendRaw(JSON.stringify(fuzz.start.value));
    let surelyMalformed = 0;
    let at = 0;
    for (const f of fuzz.frames) {
      if (!stream.open) break;
      switch (f.kind) {
        case 'media': {
          const bytes = fuzz.codec === 'PCMU@8000h' ? f.bytes / 2 : f.bytes;
          stream.mediaFrame(f.track as 'inbound_track', at, new Uint8Array(bytes).fill(0x55), 1);
          at += 20;
          if (f.track !== 'inbound_track' && f.track !== 'inbound') surelyMalformed++;
          break;
        }
        case 'odd':
          stream.mediaFrame('inbound_track', at, new Uint8Array(321), 1);
          if (fuzz.codec !== 'PCMU@8000h') surelyMalformed++; // L16 comes in whole samples
          break;
        case 'big':
          stream.mediaFrame('inbound_track', at, new Uint8Array(48_002), 1);
          surelyMalformed++;
          break;
        case 'base64':
          stream.send({
            event: 'media',
            sequenceNumber: '5',
            streamSid: stream.streamSid,
            media: { track: 'inbound', chunk: '1', timestamp: '0', payload: 'not*base64' },
          });
          surelyMalformed++;
          break;
        case 'binary':
          stream.sendRaw(Buffer.alloc(f.bytes, 1), true);
          surelyMalformed++;
          break;
        case 'text':
          stream.sendRaw(f.text);
          break;
        case 'json':
          stream.sendRaw(JSON.stringify(f.value));
          break;
      }
    }
    const call = await fuzzing.hangUp(stream, callSid, fuzz.start === 'right');
    if (call) expect(call.snapshot().malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
  }

  it('a right start, then one of every bad frame: the server stays up', async () => {
    const every: Frame[] = [
      { kind: 'odd' },
      { kind: 'big' },
      { kind: 'base64' },
      { kind: 'binary', bytes: 3 },
      { kind: 'json', value: { event: 'dtmf', dtmf: { digit: 55 } } },
      { kind: 'text', text: '' },
      { kind: 'media', bytes: 320, track: 'inbound_track' },
    ];
    for (const codec of ['PCMU@8000h', 'L16@16000h', 'L16@24000h'] as const) {
      await fuzzing.input({ codec, start: 'right', frames: every });
    }
    expect(fuzzing.checked).toBe(3);
  });

  it(
    'mutated and random frames past the token: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fuzzing.property(input);
      expect([...fuzzing.closeCodes].every((code) => [1000, 1003, 1008].includes(code))).toBe(true);
      expect(fuzzing.checked).toBeGreaterThan(10);
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
