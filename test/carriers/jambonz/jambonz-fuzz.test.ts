import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeftIntact } from '../../fuzz/after-fuzzing.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from '../../fuzz/harness.js';
import { eventually } from '../../helpers/gateway.js';
import { JambonzListen } from './jambonz-listen-client.js';

/*
 * jambonz listens: a socket per input, past the secret (the upgrade is what it protects; after it
 * any frame may come), in either mode, with a first frame that is right, mutated, random or
 * missing, then any mix of audio of every length, odd and oversized frames, DTMF and mark reports
 * with mutated fields, text and random JSON. After each the server stays up, logs no error, the
 * call beside goes on, and a call that opened counted at least the frames that are surely
 * malformed and kept every whole sample of its audio.
 */

const SECRET = 'jambonz-fuzz-shared-secret-0123456';

type Frame =
  | { readonly kind: 'audio'; readonly frames: number }
  | { readonly kind: 'odd'; readonly bytes: number }
  | { readonly kind: 'big' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown };

interface Input {
  readonly mixType: 'mono' | 'stereo' | 'mixed';
  readonly sampleRate: 8000 | 16000 | 24000 | 48000;
  readonly mode: 'transcribe' | 'agent';
  readonly first: 'right' | 'none' | { readonly value: unknown };
  readonly frames: readonly Frame[];
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const mutatedMetadata = fc.record({
  callSid: fc.option(anyValue, { nil: undefined }),
  sampleRate: fc.option(fc.oneof(fc.constantFrom(8000, '16000', 11025), anyValue), { nil: undefined }),
  mixType: fc.option(fc.oneof(fc.constantFrom('mono', 'stereo', 'quad'), anyValue), { nil: undefined }),
  from: fc.option(anyValue, { nil: undefined }),
  customerData: fc.option(anyValue, { nil: undefined }),
});
const later = fc.oneof(
  fc.record({
    event: fc.oneof(fc.constant('dtmf'), anyValue),
    dtmf: fc.option(fc.oneof(fc.constantFrom('5', '#', 'A', '55', ''), anyValue), { nil: undefined }),
  }),
  fc.record({
    type: fc.oneof(fc.constantFrom('mark', 'playDone', 'killAudio'), anyValue),
    data: fc.option(fc.oneof(fc.record({ name: anyValue, event: anyValue }), anyValue), { nil: undefined }),
  }),
);

const frame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 960 }).map((frames) => ({ kind: 'audio' as const, frames })),
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
      .oneof(later, fc.jsonValue({ maxDepth: 2 }))
      .map((value) => ({ kind: 'json' as const, value })),
  },
);

const input: fc.Arbitrary<Input> = fc.record({
  mixType: fc.constantFrom('mono' as const, 'stereo' as const, 'mixed' as const),
  sampleRate: fc.constantFrom(8000 as const, 16000 as const, 24000 as const, 48000 as const),
  mode: fc.constantFrom('transcribe' as const, 'agent' as const),
  first: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('right' as const, 'none' as const) },
    {
      weight: 2,
      arbitrary: fc.oneof(mutatedMetadata, fc.jsonValue({ maxDepth: 2 })).map((value) => ({ value })),
    },
  ),
  frames: fc.array(frame, { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: jambonz listens', () => {
  let bench: FuzzBench;
  const closeCodes = new Map<number, number>();
  let checked = 0;

  beforeAll(async () => {
    bench = await openBench('62000-62998', { JAMBONZ_STREAM_SECRET: SECRET, MAX_MALFORMED_PER_CALL: '15' });
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  async function send(fuzz: Input): Promise<void> {
    const callSid = `jz-fuzz-${++calls}`;
    const channels = fuzz.mixType === 'stereo' ? 2 : 1;
    const metadata =
      fuzz.first === 'right'
        ? { callSid, from: '+14155550100', to: '+14155550199', direction: 'inbound' }
        : fuzz.first === 'none'
          ? undefined
          : JSON.stringify(fuzz.first.value);
    const listen = await JambonzListen.open({
      url: `${bench.gw.baseUrl.replace(/^http/, 'ws')}/jambonz/listen?token=${SECRET}&mode=${fuzz.mode}`,
      sampleRate: fuzz.sampleRate,
      mixType: fuzz.mixType,
      metadata,
    });
    let surelyMalformed = 0;
    let samples = 0;
    for (const f of fuzz.frames) {
      if (!listen.open) break;
      switch (f.kind) {
        case 'audio':
          listen.sendRaw(Buffer.alloc(f.frames * 2 * channels, 7), true);
          samples += f.frames;
          break;
        case 'odd': {
          const bytes = f.bytes % (2 * channels) === 0 ? f.bytes + 1 : f.bytes;
          listen.sendRaw(Buffer.alloc(bytes, 3), true);
          samples += Math.floor(bytes / (2 * channels));
          surelyMalformed++;
          break;
        }
        case 'big':
          listen.sendRaw(Buffer.alloc(64_004), true);
          surelyMalformed++;
          break;
        case 'text':
          listen.sendRaw(f.text, false);
          break;
        case 'json':
          listen.sendRaw(JSON.stringify(f.value), false);
          break;
      }
    }
    const closedByUs = listen.open;
    const guard = setTimeout(() => listen.socket.terminate(), 10_000);
    const closed = await listen.stop();
    clearTimeout(guard);
    closeCodes.set(closed.code, (closeCodes.get(closed.code) ?? 0) + 1);
    const call = bench.gw.app.registry.get(callSid);
    if (call && closedByUs && fuzz.first === 'right' && closed.code === 1000) {
      await eventually(() => expect(call.state).toBe('ended'));
      const snapshot = call.snapshot();
      expect(snapshot.malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
      for (const leg of snapshot.legs) expect(leg.audioSeconds).toBeCloseTo(samples / fuzz.sampleRate, 6);
      checked++;
    }
  }

  it('a right first frame, then one of every bad frame: the server stays up', async () => {
    const every: Frame[] = [
      { kind: 'odd', bytes: 3 },
      { kind: 'big' },
      { kind: 'json', value: { event: 'dtmf', dtmf: 55 } },
      { kind: 'json', value: { type: 'mark', data: { name: 7 } } },
      { kind: 'text', text: '' },
      { kind: 'audio', frames: 160 },
    ];
    for (const mode of ['transcribe', 'agent'] as const) {
      await send({ mixType: 'mono', sampleRate: 8000, mode, first: 'right', frames: every });
      await bench.afterInput();
    }
    expect(checked).toBe(2);
  });

  it(
    'mutated and random frames past the secret: after each the server stays up, logs no error, and the call beside goes on',
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
