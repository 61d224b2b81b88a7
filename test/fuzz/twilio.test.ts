import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectLeftIntact } from './after-fuzzing.js';
import { applyTwilioEdits, type TwilioFrame, twilioFrames, twilioStream } from './arbitraries.js';
import { TwilioEdge } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * Twilio Media Streams: a signed WebSocket per input carrying a mutated valid stream (start,
 * media, dtmf, mark, stop with fields replaced, removed, retyped, repeated, reordered) or random
 * JSON, text and binary frames. After each the server stays up and the call beside goes on.
 */

const asFrames = (messages: unknown[]): TwilioFrame[] => messages.map((m) => ({ text: JSON.stringify(m) }));

const EXAMPLES: [string, TwilioFrame[]][] = [
  [
    'media stamped 1e15 ms (the largest the schema allows)',
    asFrames(
      applyTwilioEdits(twilioStream(1), [
        { op: 'set', message: 2, path: ['media', 'timestamp'], value: '999999999999999' },
      ]),
    ),
  ],
  [
    'media stamped 100 000 000 ms (28 hours) into the call',
    asFrames(
      applyTwilioEdits(twilioStream(2), [
        { op: 'set', message: 3, path: ['media', 'timestamp'], value: '100000000' },
      ]),
    ),
  ],
  [
    'a start with the same track twice and labels that clash',
    asFrames(
      applyTwilioEdits(twilioStream(1), [
        { op: 'set', message: 1, path: ['start', 'tracks'], value: ['inbound', 'inbound'] },
        { op: 'set', message: 1, path: ['start', 'customParameters', 'outboundLabel'], value: 'caller' },
      ]),
    ),
  ],
];

describe('fuzz: Twilio Media Streams', () => {
  let bench: FuzzBench;
  let edge: TwilioEdge;

  beforeAll(async () => {
    bench = await openBench('48000-48998');
    edge = new TwilioEdge(bench.gw);
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: the server stays up', async (_name, frames) => {
    await edge.send(frames);
    await bench.afterInput();
  });

  it(
    'mutated and random messages on a signed stream: after each the server stays up, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(twilioFrames, async (frames) => {
          await edge.send(frames);
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
