import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectLeftIntact } from './after-fuzzing.js';
import { SipTcpEdge, type SipTcpInput, sipTcpInput } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';
import { KNOWN } from './known-inputs.js';

/*
 * SIP over TCP: the same messages framed by Content-Length, several per connection, cut into
 * writes anywhere, followed by half a message or bytes that frame nothing, then the connection
 * ended or reset. After each connection the server stays up and the call beside goes on.
 */

const framed = (input: SipTcpInput['messages'][number]): SipTcpInput => ({
  messages: [input],
  tail: 'none',
  garbage: new Uint8Array(0),
  cuts: [],
  ending: 'end',
});

describe('fuzz: SIP over TCP', () => {
  let bench: FuzzBench;
  let edge: SipTcpEdge;

  beforeAll(async () => {
    bench = await openBench('45000-45998');
    edge = await SipTcpEdge.open(bench.gw);
    await bench.markBaseline();
  }, 30_000);
  afterAll(async () => {
    await edge?.close();
    await shutBench(bench);
  });

  it.each(KNOWN)('%s, over TCP: the server stays up and answers no 500', async (_name, input) => {
    // Judged on its own answers and logs, not on what an earlier case left behind; the answers on a
    // connection are read before it closes, so this input's 500, if any, is seen here.
    edge.discardReports();
    bench.errors.take();
    await edge.send(framed(input));
    await bench.afterInput();
    edge.check();
  });

  it(
    'mutated and random messages, garbage streams and partial messages on a connection: after each the server stays up, answers no 500, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(sipTcpInput, async (input) => {
          await edge.send(input);
          await bench.afterInput();
          edge.check();
        }),
        fuzzParameters(
          400,
          KNOWN.map(([, input]) => [framed(input)]),
        ),
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
