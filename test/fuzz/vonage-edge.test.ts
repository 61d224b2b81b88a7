import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaQuery } from '../../src/carriers/vonage/media-token.js';
import { VonageSocket } from '../doubles/vonage-client.js';
import { eventually } from '../helpers/gateway.js';
import { expectLeftIntact } from './after-fuzzing.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Vonage WebSockets: a socket per input, opened with a valid media token (the upgrade is what
 * the token protects; past it, any frame may come), carrying a first frame that is valid, mutated
 * or missing, then any mix of audio of every length, odd and oversized frames, Vonage's events
 * with fields replaced, random JSON and text. After each the server stays up, logs no error, the
 * call beside goes on, and a call the input opened counted at least every frame that is malformed
 * whatever else it holds, and kept every whole sample of its audio.
 */

const SECRET = 'vonage-fuzz-signature-secret-0123';

type Frame =
  | { readonly kind: 'audio'; readonly bytes: Uint8Array }
  | { readonly kind: 'odd'; readonly bytes: Uint8Array }
  | { readonly kind: 'big' }
  | { readonly kind: 'not_json'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string };

interface Input {
  readonly first: 'valid8k' | 'valid16k' | 'none' | { readonly value: unknown };
  readonly frames: readonly Frame[];
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const vonageEvent = fc.constantFrom(
  'websocket:connected',
  'websocket:dtmf',
  'websocket:notify',
  'websocket:cleared',
  'websocket:other',
  'media',
  'stop',
);
const mutatedEvent = fc.record({
  event: fc.oneof(vonageEvent, anyValue),
  digit: fc.option(fc.oneof(fc.constantFrom('5', '#', 'A', '55', ''), anyValue), { nil: undefined }),
  duration: fc.option(anyValue, { nil: undefined }),
  payload: fc.option(fc.oneof(fc.object({ maxDepth: 1 }), anyValue), { nil: undefined }),
  'content-type': fc.option(
    fc.oneof(
      fc.constantFrom('audio/l16;rate=16000', 'audio/l16;rate=8000', 'audio/l16;rate=24000'),
      anyValue,
    ),
    { nil: undefined },
  ),
  voxlineCall: fc.option(anyValue, { nil: undefined }),
});

const frame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .integer({ min: 0, max: 640 })
      .map((n) => ({ kind: 'audio' as const, bytes: new Uint8Array(2 * n).map((_, i) => (i * 37) & 0xff) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 1281 })
      .filter((b) => b.length % 2 === 1)
      .map((bytes) => ({ kind: 'odd' as const, bytes })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'big' as const }) },
  {
    weight: 1,
    arbitrary: fc.string({ maxLength: 60 }).map((s) => ({ kind: 'not_json' as const, text: `\u0001{${s}` })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(mutatedEvent, fc.jsonValue({ maxDepth: 2 }))
      .map((value) => ({ kind: 'json' as const, value })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((text) => ({ kind: 'text' as const, text })) },
);

const input: fc.Arbitrary<Input> = fc.record({
  first: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('valid8k' as const, 'valid16k' as const) },
    { weight: 1, arbitrary: fc.constant('none' as const) },
    { weight: 2, arbitrary: mutatedEvent.map((value) => ({ value })) },
  ),
  frames: fc.array(frame, { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: Vonage WebSockets', () => {
  let bench: FuzzBench;
  const closeCodes = new Map<number, number>();
  /** Inputs whose call was checked frame for frame (the property must reach some). */
  let checked = 0;

  beforeAll(async () => {
    bench = await openBench('42000-42998', { VONAGE_SIGNATURE_SECRET: SECRET, MAX_MALFORMED_PER_CALL: '15' });
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  async function send(fuzz: Input): Promise<void> {
    const callSid = `eeeeeeee-0000-4000-8000-${String(++calls).padStart(12, '0')}`;
    const grant = {
      callSid,
      mode: calls % 3 === 0 ? ('agent' as const) : ('transcribe' as const),
      expiresAtS: Math.floor(Date.now() / 1000) + 60,
    };
    const uri = `${bench.gw.baseUrl.replace(/^http/, 'ws')}/vonage/media?${mediaQuery(SECRET, grant)}`;
    const rate = fuzz.first === 'valid8k' ? 8000 : 16000;
    const connected = typeof fuzz.first === 'object' ? false : fuzz.first === 'none' ? false : undefined;
    const vonage = await VonageSocket.open(
      { type: 'websocket', uri, 'content-type': `audio/l16;rate=${rate}`, headers: { voxlineCall: callSid } },
      { connected },
    );
    if (typeof fuzz.first === 'object') vonage.sendRaw(JSON.stringify(fuzz.first.value), false);
    let surelyMalformed = 0;
    let samples = 0;
    for (const f of fuzz.frames) {
      if (!vonage.open) break;
      switch (f.kind) {
        case 'audio':
          vonage.sendRaw(Buffer.from(f.bytes), true);
          samples += f.bytes.length / 2;
          break;
        case 'odd':
          vonage.sendRaw(Buffer.from(f.bytes), true);
          samples += (f.bytes.length - 1) / 2;
          surelyMalformed++;
          break;
        case 'big':
          vonage.sendRaw(Buffer.alloc(32_002), true);
          surelyMalformed++;
          break;
        case 'not_json':
          vonage.sendRaw(f.text, false);
          surelyMalformed++;
          break;
        case 'json':
          vonage.sendRaw(JSON.stringify(f.value), false);
          break;
        case 'text':
          vonage.sendRaw(f.text, false);
          break;
      }
    }
    const closedByUs = vonage.open;
    const guard = setTimeout(() => vonage.socket.terminate(), 10_000);
    const closed = await vonage.hangUp();
    clearTimeout(guard);
    closeCodes.set(closed.code, (closeCodes.get(closed.code) ?? 0) + 1);
    const call = bench.gw.app.registry.get(callSid);
    if (
      call &&
      closedByUs &&
      (fuzz.first === 'valid8k' || fuzz.first === 'valid16k') &&
      closed.code === 1000
    ) {
      await eventually(() => expect(call.state).toBe('ended'));
      const snapshot = call.snapshot();
      expect(snapshot.malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
      expect(snapshot.legs[0]?.audioSeconds).toBeCloseTo(samples / rate, 6);
      checked++;
    }
  }

  it('a valid start, a mutated start and no start, each followed by one of every bad frame: the server stays up', async () => {
    const every: Frame[] = [
      { kind: 'odd', bytes: new Uint8Array(3) },
      { kind: 'big' },
      { kind: 'not_json', text: '\u0001{' },
      { kind: 'json', value: { event: 'websocket:dtmf', digit: 55 } },
      { kind: 'json', value: { event: 'websocket:notify', payload: 'x' } },
      { kind: 'json', value: { event: 'websocket:connected', 'content-type': 'audio/l16;rate=16000' } },
      { kind: 'text', text: '' },
    ];
    for (const first of [
      'valid16k',
      { value: { event: 'websocket:connected', 'content-type': 7 } },
      'none',
    ] as const) {
      await send({ first, frames: every });
      await bench.afterInput();
    }
  });

  it(
    'mutated and random frames on a signed socket: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(input, async (fuzz) => {
          await send(fuzz);
          await bench.afterInput();
        }),
        fuzzParameters(300),
      );
      expect([...closeCodes.keys()].every((code) => [1000, 1003, 1008].includes(code))).toBe(true);
      expect(checked).toBeGreaterThan(20);
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
