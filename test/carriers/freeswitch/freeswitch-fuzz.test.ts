import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeftIntact } from '../../fuzz/after-fuzzing.js';
import { PROPERTY_TIMEOUT_MS, SETTLE_TIMEOUT_MS, shutBench } from '../../fuzz/harness.js';
import {
  anyValue,
  EdgeFuzz,
  type L16Frame,
  l16Frame,
  sendL16Frames,
  socketUrl,
} from '../stream-edge-harness.js';
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

interface Input {
  readonly mix: 'mono' | 'stereo' | 'mixed';
  readonly rate: 8000 | 16000;
  readonly module: 'mod_audio_stream' | 'mod_audio_fork';
  readonly first: 'json' | 'text' | 'none' | { readonly value: unknown };
  readonly frames: readonly L16Frame[];
}

const mutatedMetadata = fc.record({
  callSid: fc.option(anyValue, { nil: undefined }),
  from: fc.option(anyValue, { nil: undefined }),
  custom: fc.option(anyValue, { nil: undefined }),
});
const dtmf = fc.record({
  event: fc.oneof(fc.constant('dtmf'), anyValue),
  dtmf: fc.option(fc.oneof(fc.constantFrom('5', '#', 'A', '55', ''), anyValue), { nil: undefined }),
});

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
  frames: fc.array(l16Frame(640, dtmf), { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: FreeSWITCH forks', () => {
  const fuzzing = new EdgeFuzz(send);

  beforeAll(
    () => fuzzing.open('56000-56998', { FREESWITCH_STREAM_SECRET: SECRET, MAX_MALFORMED_PER_CALL: '15' }),
    30_000,
  );
  afterAll(() => shutBench(fuzzing.bench));

  async function send(fuzz: Input): Promise<void> {
    const callSid = `fs-fuzz-${++calls}`;
    const channels = fuzz.mix === 'stereo' ? 2 : 1;
    const url = `${socketUrl(fuzzing.bench.gw, '/freeswitch/stream')}?mix=${fuzz.mix}&rate=${fuzz.rate}&call=${callSid}&token=${SECRET}`;
    const metadata =
      fuzz.first === 'json'
        ? JSON.stringify({ callSid, from: '1000' })
        : fuzz.first === 'text'
          ? 'any text'
          : fuzz.first === 'none'
            ? undefined
            : JSON.stringify(fuzz.first.value);
    const fork = await FreeSwitchFork.open({ url, module: fuzz.module, rate: fuzz.rate, channels, metadata });
    const { surelyMalformed, samples } = sendL16Frames(fork, fuzz.frames, channels);
    const call = await fuzzing.hangUp(fork, callSid, typeof fuzz.first === 'string');
    if (call) {
      const snapshot = call.snapshot();
      expect(snapshot.malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
      for (const leg of snapshot.legs) expect(leg.audioSeconds).toBeCloseTo(samples / fuzz.rate, 6);
    }
  }

  it('each first frame, then one of every bad frame: the server stays up', async () => {
    const every: L16Frame[] = [
      { kind: 'odd', bytes: 3 },
      { kind: 'big' },
      { kind: 'json', value: { event: 'dtmf', dtmf: 55 } },
      { kind: 'text', text: '' },
      { kind: 'audio', frames: 160 },
    ];
    for (const first of ['json', 'text', 'none', { value: { callSid: 7, custom: 'x' } }] as const) {
      await fuzzing.input({ mix: 'stereo', rate: 8000, module: 'mod_audio_fork', first, frames: every });
    }
  });

  it(
    'mutated and random frames past the secret: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fuzzing.property(input);
      expect([...fuzzing.closeCodes].every((code) => [1000, 1008].includes(code))).toBe(true);
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
