import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRtp } from '../../src/carriers/sip/rtp.js';
import { expectLeftIntact } from './after-fuzzing.js';
import { rtpDatagram } from './arbitraries.js';
import { RtpEdge } from './edges.js';
import {
  type FuzzBench,
  fuzzParameters,
  openBench,
  PROPERTY_TIMEOUT_MS,
  SETTLE_TIMEOUT_MS,
  shutBench,
} from './harness.js';

/*
 * RTP and RFC 4733 at the RTP port of a live SIP call, from the address the stream latched to:
 * lying headers (CSRC count, extension length, padding), every payload type, wild sequence
 * numbers and timestamps, telephone events whole and cut short, RTCP, noise. What voxline does
 * with each datagram is known in advance, so after each input the stream's counts (packets,
 * refusals by reason, frames reaching the leg) must match exactly; the server stays up, and the
 * Twilio call beside it goes on.
 */

const telephoneEvent = (digit: number, end: boolean) =>
  buildRtp(101, 9, 4000, 0x1234, Uint8Array.from([digit, end ? 0x8a : 0x0a, 0x01, 0x40]));

describe('fuzz: RTP and RFC 4733 at a live SIP call', () => {
  let bench: FuzzBench;
  let edge: RtpEdge;

  beforeAll(async () => {
    bench = await openBench('46000-46998');
    edge = await RtpEdge.open(bench.gw);
    bench.keep(edge.callSid);
    await bench.markBaseline();
  }, 30_000);
  afterAll(async () => {
    await edge?.close();
    await shutBench(bench);
  });

  it('a key press, an event that is no key, an event cut short and a packet with an extension longer than itself: counted as expected', async () => {
    await edge.send([
      telephoneEvent(5, false),
      telephoneEvent(200, true),
      buildRtp(101, 10, 4160, 0x1234, Uint8Array.from([1, 0x80])),
      Uint8Array.from([0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0xff, 0xff]),
    ]);
    await bench.afterInput();
  });

  it(
    'random and lying RTP datagrams: after each input the stream’s counts are exactly as predicted, the server stays up and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(rtpDatagram, { minLength: 1, maxLength: 4 }), async (datagrams) => {
          await edge.send(datagrams);
          await bench.afterInput();
        }),
        fuzzParameters(500),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'after the fuzzing: the SIP call ends on BYE with its counts intact, the call beside has every frame exactly once, no socket was left open',
    async () => {
      expect(await edge.finish()).toEqual([]);
      await expectLeftIntact(bench);
    },
    SETTLE_TIMEOUT_MS,
  );
});
