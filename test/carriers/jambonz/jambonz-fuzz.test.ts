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

interface Input {
  readonly mixType: 'mono' | 'stereo' | 'mixed';
  readonly sampleRate: 8000 | 16000 | 24000 | 48000;
  readonly mode: 'transcribe' | 'agent';
  readonly first: 'right' | 'none' | { readonly value: unknown };
  readonly frames: readonly L16Frame[];
}

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
  frames: fc.array(l16Frame(960, later), { maxLength: 30 }),
});

let calls = 0;

describe('fuzz: jambonz listens', () => {
  const fuzzing = new EdgeFuzz(send);

  beforeAll(
    () => fuzzing.open('62000-62998', { JAMBONZ_STREAM_SECRET: SECRET, MAX_MALFORMED_PER_CALL: '15' }),
    30_000,
  );
  afterAll(() => shutBench(fuzzing.bench));

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
      url: `${socketUrl(fuzzing.bench.gw, '/jambonz/listen')}?token=${SECRET}&mode=${fuzz.mode}`,
      sampleRate: fuzz.sampleRate,
      mixType: fuzz.mixType,
      metadata,
    });
    const { surelyMalformed, samples } = sendL16Frames(listen, fuzz.frames, channels);
    const call = await fuzzing.hangUp(listen, callSid, fuzz.first === 'right');
    if (call) {
      const snapshot = call.snapshot();
      expect(snapshot.malformedMessages.total).toBeGreaterThanOrEqual(surelyMalformed);
      for (const leg of snapshot.legs) expect(leg.audioSeconds).toBeCloseTo(samples / fuzz.sampleRate, 6);
    }
  }

  it('a right first frame, then one of every bad frame: the server stays up', async () => {
    const every: L16Frame[] = [
      { kind: 'odd', bytes: 3 },
      { kind: 'big' },
      { kind: 'json', value: { event: 'dtmf', dtmf: 55 } },
      { kind: 'json', value: { type: 'mark', data: { name: 7 } } },
      { kind: 'text', text: '' },
      { kind: 'audio', frames: 160 },
    ];
    for (const mode of ['transcribe', 'agent'] as const) {
      await fuzzing.input({ mixType: 'mono', sampleRate: 8000, mode, first: 'right', frames: every });
    }
    expect(fuzzing.checked).toBe(2);
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
