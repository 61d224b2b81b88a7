import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DialUpdate } from '../../../../src/calls/outbound/dialer.js';
import { createSipDialer, type SipDialer } from '../../../../src/carriers/sip/uac/sip-dialer.js';
import { fuzzParameters, PROPERTY_TIMEOUT_MS } from '../../../fuzz/harness.js';
import { eventually, type Gateway, startGateway } from '../../../helpers/gateway.js';
import { pcmuAnswer, TrunkDouble, type TrunkRequest } from './trunk-double.js';

/*
 * What a trunk (or anyone who learns a branch) may send back to voxline's INVITEs: statuses in
 * and out of range, tags or none, broken Contact/Record-Route/challenges/SDP, bytes flipped.
 * After each response the server still answers OPTIONS, nothing was logged at error level (the
 * response handler never threw), and the attempts' updates keep the Dialer contract.
 */

const STATUSES = [
  100, 180, 183, 199, 200, 202, 299, 302, 401, 407, 408, 480, 486, 487, 500, 503, 600, 603, 699,
];
const HEADERS = [
  'Contact: <sip:callee@127.0.0.1:5999>',
  'Contact: <sip:callee.example.com>',
  'Contact: garbage<<',
  'Record-Route: <sip:127.0.0.1:5998;lr>',
  'Record-Route: <sip:[::1;lr>, <>',
  'WWW-Authenticate: Digest realm="a", nonce="b", qop="auth"',
  'WWW-Authenticate: Digest realm="a"',
  'Proxy-Authenticate: Digest realm=, nonce=',
  'Proxy-Authenticate: Digest realm="a", nonce="b", algorithm=SHA-512-256',
  'Content-Type: application/sdp',
  'Content-Type: multipart/mixed;boundary=x',
];
const response = fc.record({
  status: fc.oneof(fc.constantFrom(...STATUSES), fc.integer({ min: 0, max: 999 })),
  toTag: fc.option(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), { nil: undefined }),
  headers: fc.subarray(HEADERS),
  body: fc.oneof(
    fc.constant(''),
    fc.integer({ min: 0, max: 70_000 }).map((port) => pcmuAnswer(port)),
    fc.string({ maxLength: 300 }),
    fc.constant('v=0\r\nm=audio 1 RTP/AVP 0\r\n'),
  ),
  flip: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined }),
});

describe('fuzz: responses to outbound INVITEs', () => {
  let gw: Gateway;
  let trunk: TrunkDouble;
  let dialer: SipDialer;
  let barrier = 0;

  beforeAll(async () => {
    trunk = await TrunkDouble.open();
    gw = await startGateway({
      SIP_PORT: '0',
      SIP_BIND: '127.0.0.1',
      SIP_RTP_PORTS: '47000-47998',
      SIP_TRUNK_URI: `sip:127.0.0.1:${trunk.port}`,
      SIP_TRUNK_USER: 'u',
      SIP_TRUNK_PASSWORD: 'p',
      SIP_TRUNK_MAX_DIALS: '400',
      SHUTDOWN_DRAIN_MS: '200', // calls a fuzzed 2xx opened are still live at the end
    });
    dialer = createSipDialer(gw.app.edges.sip as never, gw.config.sipTrunk as never);
  }, 30_000);
  afterAll(async () => {
    await gw?.close();
    trunk?.close();
  });

  /** An OPTIONS from the trunk's socket, answered: everything sent before it has been handled. */
  async function settled(): Promise<void> {
    const callId = `barrier-${++barrier}`;
    const sip = gw.edgePorts.sip as number;
    trunk.sendRaw(
      `OPTIONS sip:voxline@127.0.0.1:${sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${trunk.port};branch=z9hG4bK-b${barrier}\r\nFrom: <sip:t@127.0.0.1>;tag=b\r\nTo: <sip:voxline@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      sip,
    );
    await eventually(() => expect(trunk.answered.has(callId)).toBe(true));
  }

  it(
    'every response is handled or dropped; the server stays up; updates end once and stop',
    async () => {
      let dial = 0;
      let current: { invite: TrunkRequest; updates: DialUpdate[] } | undefined;
      const all: DialUpdate[][] = [];
      await fc.assert(
        fc.asyncProperty(response, async (r) => {
          if (!current || current.updates.some((u) => u.kind !== 'ringing')) {
            const updates: DialUpdate[] = [];
            all.push(updates);
            const id = `dial_fuzz${++dial}`;
            const placed = await dialer.place(
              {
                id,
                to: '+15550001111',
                from: '+15550002222',
                mode: 'transcribe',
                parameters: {},
                ringTimeoutMs: 60_000,
                detectMachine: false,
              },
              (u) => updates.push(u),
            );
            const invite = await eventually(() => {
              const found = trunk
                .of('INVITE')
                .find((i) => i.headers.get('call-id')?.[0] === placed.carrierCallId);
              expect(found).toBeDefined();
              return found as TrunkRequest;
            });
            current = { invite, updates };
          }
          const { invite } = current;
          // The latest INVITE of this attempt (a challenge is answered with a new one).
          const latest =
            trunk
              .of('INVITE')
              .filter((i) => i.headers.get('call-id')?.[0] === invite.headers.get('call-id')?.[0])
              .at(-1) ?? invite;
          const h = (name: string) => latest.headers.get(name) ?? [];
          const to = h('to')[0] ?? '';
          const text = [
            `SIP/2.0 ${String(r.status).padStart(3, '0')} Fuzz`,
            ...h('via').map((v) => `Via: ${v}`),
            `From: ${h('from')[0]}`,
            `To: ${r.toTag ? `${to};tag=${r.toTag}` : to}`,
            `Call-ID: ${h('call-id')[0]}`,
            `CSeq: ${h('cseq')[0]}`,
            ...r.headers,
            `Content-Length: ${Buffer.byteLength(r.body)}`,
            '',
            r.body,
          ].join('\r\n');
          const bytes = Buffer.from(text);
          if (r.flip) bytes[r.flip[0] % bytes.length] = r.flip[1];
          trunk.sendRaw(bytes, latest.from.port);
          await settled();
          expect(gw.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
        }),
        fuzzParameters(150),
      );
      for (const updates of all) {
        const ends = updates.filter((u) => u.kind === 'ended' || u.kind === 'answered');
        expect(ends.length).toBeLessThanOrEqual(1);
        if (ends.length === 1) expect(updates.at(-1)).toBe(ends[0]); // nothing after the outcome
        expect(updates.filter((u) => u.kind === 'ringing').length).toBeLessThanOrEqual(1);
      }
      expect((await gw.get('/healthz')).status).toBe(200);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
