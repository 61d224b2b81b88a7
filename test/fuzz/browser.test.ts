import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeftIntact } from './after-fuzzing.js';
import { type BrowserInput, browserInput } from './arbitraries.js';
import { BrowserEdge } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Browser calls (GET /browser/call, with the admin token): a WebSocket per input carrying a start
 * message whose fields may be anything, audio of any length (odd, empty, over a second), DTMF with
 * any digit, hang-ups, random JSON and text, then a close or a cut connection. After each the
 * server stays up and the call beside goes on.
 */

const EXAMPLES: [string, BrowserInput][] = [
  [
    'two starts, a message of 64 010 bytes (not whole stereo frames), then one of 70 000 (over MAX_MESSAGE_BYTES: 1009)',
    {
      frames: [
        { text: '{"type":"start","mode":"transcribe","channels":2,"sampleRate":16000}' },
        { text: '{"type":"start","mode":"agent","channels":1,"sampleRate":16000}' },
        { binary: new Uint8Array(64_010) },
        { binary: new Uint8Array(70_000) },
      ],
      ending: 'close',
    },
  ],
  [
    'a start whose parameters are not strings, audio before it, then a cut connection',
    {
      frames: [
        { binary: new Uint8Array(641) },
        {
          text: '{"type":"start","mode":"transcribe","channels":1,"sampleRate":16000,"parameters":{"a":[1]}}',
        },
      ],
      ending: 'terminate',
    },
  ],
];

describe('fuzz: browser calls', () => {
  let bench: FuzzBench;
  let edge: BrowserEdge;

  beforeAll(async () => {
    bench = await openBench('43000-43998');
    edge = new BrowserEdge(bench.gw);
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: the server stays up', async (_name, input) => {
    await edge.send(input);
    await bench.afterInput();
  });

  it(
    'mutated starts and random messages: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(browserInput, async (input) => {
          await edge.send(input);
          await bench.afterInput();
        }),
        fuzzParameters(300),
      );
      // The inputs reached the call code: most opened a call, and some were refused with 1008.
      expect(edge.closeCodes.get(1008) ?? 0).toBeGreaterThan(0);
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
