import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectLeftIntact } from './after-fuzzing.js';
import { type HttpInput, httpInput } from './arbitraries.js';
import { endedCall, HttpEdge } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * HTTP: random methods, paths, queries, content types and bodies (form, JSON, text, bytes, over
 * the body limit) to every route: admin routes with and without the admin token, Twilio webhooks
 * signed and not. Every answer is below 500 or a well-formed voxline JSON error; after each the
 * server stays up and the call beside goes on.
 */

const request = (overrides: Partial<HttpInput>): HttpInput => ({
  method: 'POST',
  path: '/twilio/voice',
  query: '',
  contentType: 'application/x-www-form-urlencoded',
  body: '',
  auth: 'admin',
  signature: 'valid',
  extraHeaders: [],
  ...overrides,
});

const EXAMPLES: [string, HttpInput][] = [
  [
    'a signed voice webhook whose From is given twice',
    request({ body: 'From=%2B1555&From=%2B1666&CallSid=CAx' }),
  ],
  [
    'a signed voice webhook with JSON that does not parse',
    request({ contentType: 'application/json', body: '{"a":' }),
  ],
  ['a body over the limit', request({ body: 'x'.repeat(300 * 1024) })],
  ['a content type voxline does not read', request({ contentType: 'application/xml', body: '<x/>' })],
  [
    'a retry of a delivery id that is no number',
    request({ path: '/v1/webhooks/deliveries/%zz/retry', body: undefined }),
  ],
];

describe('fuzz: HTTP routes', () => {
  let bench: FuzzBench;
  let edge: HttpEdge;

  beforeAll(async () => {
    bench = await openBench('49000-49998');
    edge = new HttpEdge(bench.gw, bench.beside.callSid, await endedCall(bench.gw));
    await bench.markBaseline();
  }, 30_000);
  afterAll(() => shutBench(bench));

  it.each(EXAMPLES)('%s: below 500 or a voxline JSON error; the server stays up', async (_name, input) => {
    await edge.send(input);
    await bench.afterInput();
  });

  it(
    'random requests to every route: each answer is below 500 or a voxline JSON error, and after each the server stays up and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(httpInput, async (input) => {
          await edge.send(input);
          await bench.afterInput();
        }),
        fuzzParameters(500),
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
