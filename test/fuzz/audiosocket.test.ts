import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectLeftIntact } from './after-fuzzing.js';
import { type AudioSocketInput, audioSocketInput } from './arbitraries.js';
import { AudioSocketEdge } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Asterisk AudioSocket over TCP: a connection per input with random frame kinds, lengths and
 * payloads (audio at every rate, odd lengths, DTMF, hangup, error, UUIDs in the wrong place),
 * headers that promise more than follows, cut into writes anywhere, then ended or reset. After
 * each the server stays up and the call beside goes on.
 */

const uuid = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

const EXAMPLES: [string, AudioSocketInput][] = [
  [
    'audio at 192 kHz, then 8 kHz on the same leg, then a 65535-byte frame',
    {
      uuid: 'valid',
      uuidBytes: uuid,
      pieces: [
        { kind: 'frame', type: 0x18, payload: new Uint8Array(7680) },
        { kind: 'frame', type: 0x10, payload: new Uint8Array(320) },
        { kind: 'frame', type: 0x18, payload: new Uint8Array(0xffff) },
      ],
      cuts: [0.1, 0.5],
      ending: 'end',
    },
  ],
  [
    'a header that promises 65535 bytes and a reset',
    {
      uuid: 'valid',
      uuidBytes: uuid,
      pieces: [{ kind: 'short', type: 0x10, declared: 0xffff, payload: new Uint8Array(10) }],
      cuts: [],
      ending: 'destroy',
    },
  ],
];

describe('fuzz: Asterisk AudioSocket', () => {
  let bench: FuzzBench;
  let edge: AudioSocketEdge;

  beforeAll(async () => {
    bench = await openBench('47000-47998');
    edge = new AudioSocketEdge(bench.gw);
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: the server stays up', async (_name, input) => {
    await edge.send(input);
    await bench.afterInput();
  });

  it(
    'random frames on a connection: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(audioSocketInput, async (input) => {
          await edge.send(input);
          await bench.afterInput();
        }),
        fuzzParameters(400),
      );
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
