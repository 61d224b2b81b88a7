import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { expectLeftIntact } from './after-fuzzing.js';
import { type SipInput, sipInput } from './arbitraries.js';
import { dialogInput, SipDialogEdge, SipUdpEdge } from './edges.js';
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
 * SIP over UDP against a running gateway: every datagram a trunk, a scanner or a broken SBC
 * could send. After each one the server answers GET /healthz and an OPTIONS, nothing is logged
 * at error level, and a Twilio call beside the fuzzing takes one more frame; at the end that call
 * has every frame exactly once and no socket is left open.
 */

describe('fuzz: SIP over UDP', () => {
  let bench: FuzzBench;
  let edge: SipUdpEdge;
  let dialog: SipDialogEdge;

  beforeAll(async () => {
    bench = await openBench('44000-44998');
    edge = await SipUdpEdge.open(bench.gw);
    dialog = await SipDialogEdge.open(bench.gw);
    await bench.markBaseline();
  }, 30_000);
  afterAll(async () => {
    await edge?.close();
    await dialog?.close();
    await shutBench(bench);
  });

  it.each(
    KNOWN,
  )('%s: answered or dropped, never with a 5xx; the server stays up', async (_name, input, answered) => {
    // Judged on its own answers and logs, not on what an earlier case left behind.
    edge.discardReports();
    bench.errors.take();
    const fill = await edge.send(input);
    await bench.afterInput();
    const finals = () => edge.statusesFor(fill.callId).filter((s) => s >= 200);
    if (answered) await eventually(() => expect(finals().length).toBeGreaterThan(0));
    expect(finals().filter((s) => s >= 500)).toEqual([]);
  });

  it('an INVITE offering SDP port 70000 is refused with 488 and opens no call', async () => {
    const [, port70000] = KNOWN.find(([name]) => name.includes('70000')) ?? [];
    const fill = await edge.send(port70000 as SipInput);
    await bench.afterInput();
    await eventually(() => expect(edge.statusesFor(fill.callId).filter((s) => s >= 200)).toEqual([488]));
  });

  it(
    'mutated and random datagrams (every method and response, SDP and SIPREC bodies): after each the server stays up, answers no 500, logs no error, and the call beside goes on',
    async () => {
      await fc.assert(
        fc.asyncProperty(sipInput, async (input) => {
          await edge.send(input);
          await bench.afterInput();
          edge.check();
        }),
        fuzzParameters(
          600,
          KNOWN.map(([, input]) => [input]),
        ),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'requests inside a live dialog (re-INVITEs that hold, resume and re-offer, INFO key presses, UPDATE, out-of-order CSeq), mutated: after each the server stays up, answers no 500 but RFC 3261’s out-of-order one, logs no error',
    async () => {
      await fc.assert(
        fc.asyncProperty(dialogInput, async (requests) => {
          await dialog.send(requests);
          await bench.afterInput();
          dialog.check();
        }),
        fuzzParameters(250),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'after the fuzzing: the call beside it has every frame exactly once, and no socket or file was left open',
    async () => {
      const report = await expectLeftIntact(bench);
      expect(report.beside.sent).toBeGreaterThan(0);
    },
    SETTLE_TIMEOUT_MS,
  );
});
