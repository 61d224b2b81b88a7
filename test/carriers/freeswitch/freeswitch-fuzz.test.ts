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
import { FreeSwitchFork } from './freeswitch-fork-client.js';

/*
 * FreeSWITCH forks: a socket per input, past the secret (the upgrade is what it protects; after
 * it any frame may come), on URLs of every mix, rate and module, carrying metadata that is JSON,
 * text, mutated or missing, then any mix of audio of every length, odd and oversized frames,
 * send_text frames and random JSON. After each the server stays up, logs no error, the call
 * beside goes on, and a call that opened counted at least the frames that are surely malformed
 * and kept every whole sample of its audio.
 */

const SECRET = 'freeswitch-fuzz-shared-secret-0123';

type Frame =
  | { readonly kind: 'audio'; readonly frames: number }
  | { readonly kind: 'odd'; readonly bytes: number }
  | { readonly kind: 'big' }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'json'; readonly value: unknown };

interface Input {
  readonly mix: 'mono' | 'stereo' | 'mixed';
  readonly rate: 8000 | 16000;
  readonly module: 'mod_audio_stream' | 'mod_audio_fork';
  readonly first: 'json' | 'text' | 'none' | { readonly value: unknown };
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
  from: fc.option(anyValue, { nil: undefined }),
  custom: fc.option(anyValue, { nil: undefined }),
});
const dtmf = fc.record({
  event: fc.oneof(fc.constant('dtmf'), anyValue),
  dtmf: fc.option(fc.oneof(fc.constantFrom('5', '#', 'A', '55', ''), anyValue), { nil: undefined }),
});

const frame: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 640 }).map((frames) => ({ kind: 'audio' as const, frames })),
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
      .oneof(dtmf, fc.jsonValue({ maxDepth: 2 }))
      .map((value) => ({ kind: 'json' as const, value })),
  },
);

const input: fc.Arbitrary<Input> = fc.record({
  mix: fc.constantFrom('mono' as const, 'stereo' as const, 'mixed' as const),
  rate: fc.constantFrom(8000 as const, 16000 as const),
  module: fc.constantFrom('mod_audio_stream' as const, 'mod_audio_fork' as const),
  first: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('json' as const, 'text' as const, 'none' as const) },
    {
      weight: 2,
      arbitrary: fc.oneof(mutatedMetadata, fc.jsonValue({ maxDepth: 2 })).map((value) => ({ value })),
    },
  ),
  frames: fc.array(frame, { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: FreeSWITCH forks', () => {
  let bench: FuzzBench;
  const closeCodes = new Map<number, number>();
  let checked = 0;

  beforeAll(async () => {
    bench = await openBench('56000-56998', {
      FREESWITCH_STREAM_SECRET: SECRET,
      MAX_MALFORMED_PER_CALL: '15',
    });
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  async function send(fuzz: Input): Promise<void> {
    const callSid = `fs-fuzz-${++calls}`;
    const channels = fuzz.mix === 'stereo' ? 2 : 1;
    const url = `${bench.gw.baseUrl.replace(/^http/, 'ws')}/freeswitch/stream?mix=${fuzz.mix}&rate=${fuzz.rate}&call=${callSid}&token=${SECRET}`;
    const metadata =
      fuzz.first === 'json'
        ? JSON.stringify({ callSid, from: '1000' })
        : fuzz.first === 'text'
          ? 'any text'
          : fuzz.first === 'none'
            ? undefined
            : JSON.stringify(fuzz.first.value);
    const fork = await FreeSwitchFork.open({ url, module: fuzz.module, rate: fuzz.rate, channels, metadata });
    let surelyMalformed = 0;
    let samples = 0;
    for (const f of fuzz.frames) {
      if (!fork.open) break;
      switch (f.kind) {
        case 'audio':
          fork.sendRaw(Buffer.alloc(f.frames * 2 * channels, 7), true);
          samples += f.frames;
          break;
        case 'odd': {
          const bytes = f.bytes % (2 * channels) === 0 ? f.bytes + 1 : f.bytes;
          fork.sendRaw(Buffer.alloc(bytes, 3), true);
          samples += Math.floor(bytes / (2 * channels));
          surelyMalformed++;
          break;
        }
        case 'big':
          fork.sendRaw(Buffer.alloc(64_004), true);
          surelyMalformed++;
          break;
        case 'text':
          fork.sendRaw(f.text, false);
          break;
        case 'json':
          fork.sendRaw(JSON.stringify(f.value), false);
          break;
      }
    }
    const closedByUs = fork.open;
    const guard = setTimeout(() => fork.socket.terminate(), 10_000);
    const closed = await fork.stop();
    clearTimeout(guard);
    closeCodes.set(closed.code, (closeCodes.get(closed.code) ?? 0) + 1);
    const call = bench.gw.app.registry.get(callSid);
    if (call && closedByUs && typeof fuzz.first === 'string' && closed.code === 1000) {
      await eventually(() => expect(call.state).toBe('ended'));
      const snapshot = call.snapshot();
      expect(snapshot.malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
      for (const leg of snapshot.legs) expect(leg.audioSeconds).toBeCloseTo(samples / fuzz.rate, 6);
      checked++;
    }
  }

  it('each first frame, then one of every bad frame: the server stays up', async () => {
    const every: Frame[] = [
      { kind: 'odd', bytes: 3 },
      { kind: 'big' },
      { kind: 'json', value: { event: 'dtmf', dtmf: 55 } },
      { kind: 'text', text: '' },
      { kind: 'audio', frames: 160 },
    ];
    for (const first of ['json', 'text', 'none', { value: { callSid: 7, custom: 'x' } }] as const) {
      await send({ mix: 'stereo', rate: 8000, module: 'mod_audio_fork', first, frames: every });
      await bench.afterInput();
    }
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
      expect([...closeCodes.keys()].every((code) => [1000, 1008].includes(code))).toBe(true);
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
