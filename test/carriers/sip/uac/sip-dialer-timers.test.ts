import { afterEach, describe, expect, it } from 'vitest';
import type { DialRequest, DialUpdate } from '../../../../src/calls/outbound/dialer.js';
import { createSipDialer, type SipDialer } from '../../../../src/carriers/sip/uac/sip-dialer.js';
import { eventually, type Gateway, startGateway } from '../../../helpers/gateway.js';
import { ManualClock } from '../../../helpers/manual-clock.js';
import { pcmuAnswer, TrunkDouble } from './trunk-double.js';

/*
 * The client transaction's timers on a clock the test drives, against a trunk that answers only
 * when told to: Timer A's resends and Timer B, a CANCEL held back until a provisional (§9.1), a
 * 2xx that crosses a CANCEL, ACKs to retransmitted finals, and the limits on what may ring.
 */
let gateway: Gateway | undefined;
let trunk: TrunkDouble | undefined;

afterEach(async () => {
  await gateway?.close();
  trunk?.close();
  gateway = trunk = undefined;
});

async function start(env: Record<string, string> = {}, transport: 'udp' | 'tcp' = 'udp') {
  const clock = new ManualClock();
  trunk = transport === 'tcp' ? await TrunkDouble.openTcp() : await TrunkDouble.open();
  gateway = await startGateway(
    {
      SIP_PORT: '0',
      SIP_BIND: '127.0.0.1',
      SIP_RTP_PORTS: '46000-46998',
      SIP_TRUNK_URI: `sip:127.0.0.1:${trunk.port}${transport === 'tcp' ? ';transport=tcp' : ''}`,
      SHUTDOWN_DRAIN_MS: '200',
      ...env,
    },
    [],
    { clock },
  );
  const dialer = createSipDialer(gateway.app.edges.sip as never, gateway.config.sipTrunk as never);
  return { clock, trunk, dialer };
}

const request = (id = 'dial_t1', overrides: Partial<DialRequest> = {}): DialRequest => ({
  id,
  to: '+15557654321',
  from: '+15551230000',
  mode: 'transcribe',
  parameters: {},
  ringTimeoutMs: 60_000,
  detectMachine: false,
  ...overrides,
});

async function place(dialer: SipDialer, r = request()) {
  const updates: DialUpdate[] = [];
  const placed = await dialer.place(r, (u) => updates.push(u));
  return { placed, updates };
}

describe('outbound SIP: client transaction timers (RFC 3261 §17.1.1)', () => {
  it('Timer A resends the INVITE at 0.5, 1, 2, 4, 8 and 16 s; Timer B gives up at 32 s: failed', async () => {
    const { clock, trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const expected = [2, 3, 4, 5, 6, 7];
    for (const [i, ms] of [500, 1000, 2000, 4000, 8000, 16_000].entries()) {
      await clock.advance(ms);
      await eventually(() => expect(trunk.of('INVITE')).toHaveLength(expected[i]));
    }
    expect(updates).toEqual([]);
    await clock.advance(500); // t = 32 s
    expect(updates).toEqual([
      { kind: 'ended', outcome: 'failed', detail: 'no response from the trunk (Timer B, 32 s)' },
    ]);
    // Every copy is the same transaction: one branch, one CSeq.
    expect(new Set(trunk.of('INVITE').map((r) => r.headers.get('via')?.[0]))).toHaveProperty('size', 1);
    expect(dialer.inFlight).toBe(0);
  });

  it('a provisional stops the resends; a final that comes again is ACKed again (same branch)', async () => {
    const { clock, trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const invite = trunk.of('INVITE')[0];
    trunk.respond(invite, 100, 'Trying');
    await clock.advance(10_000);
    expect(trunk.of('INVITE')).toHaveLength(1);
    trunk.respond(invite, 503, 'Service Unavailable', { toTag: 't1' });
    await eventually(() =>
      expect(updates.at(-1)).toMatchObject({ kind: 'ended', outcome: 'failed', status: 503 }),
    );
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(1));
    trunk.respond(invite, 503, 'Service Unavailable', { toTag: 't1' });
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(2));
    const ack = trunk.of('ACK')[0];
    expect(ack.headers.get('via')).toEqual(invite.headers.get('via'));
    expect(ack.uri).toBe(invite.uri);
    expect(ack.headers.get('to')?.[0]).toMatch(/;tag=t1$/);
    expect(ack.headers.get('cseq')).toEqual(['1 ACK']);
    expect(updates).toHaveLength(1);
  });

  it('cancel before any provisional: ended at once; the CANCEL waits for the 180 (§9.1), then the 487 is ACKed', async () => {
    const { trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    await dialer.cancel('dial_t1');
    expect(updates).toEqual([{ kind: 'ended', outcome: 'canceled', detail: 'cancelled by request' }]);
    expect(trunk.of('CANCEL')).toHaveLength(0);
    const invite = trunk.of('INVITE')[0];
    trunk.respond(invite, 180, 'Ringing', { toTag: 't2' });
    await eventually(() => expect(trunk.of('CANCEL')).toHaveLength(1));
    const cancel = trunk.of('CANCEL')[0];
    expect(cancel.uri).toBe(invite.uri);
    expect(cancel.headers.get('via')).toEqual(invite.headers.get('via'));
    expect(cancel.headers.get('to')).toEqual(invite.headers.get('to')); // no tag: as in the INVITE
    expect(cancel.headers.get('cseq')).toEqual(['1 CANCEL']);
    trunk.respond(cancel, 200, 'OK', { toTag: 't2' });
    trunk.respond(invite, 487, 'Request Terminated', { toTag: 't2' });
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(1));
    expect(updates).toHaveLength(1); // nothing after ended, not even the late ringing
  });

  it('a 200 that crosses the CANCEL is ACKed, then hung up with a BYE in its dialog', async () => {
    const { clock, trunk, dialer } = await start();
    const { updates } = await place(dialer, request('dial_t1', { ringTimeoutMs: 3000 }));
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const invite = trunk.of('INVITE')[0];
    trunk.respond(invite, 180, 'Ringing', { toTag: 't3' });
    await eventually(() => expect(updates).toEqual([{ kind: 'ringing' }]));
    await clock.advance(3000);
    await eventually(() => expect(trunk.of('CANCEL')).toHaveLength(1));
    trunk.respond(invite, 200, 'OK', {
      toTag: 't3',
      headers: [`Contact: <sip:callee@127.0.0.1:${trunk.port}>`, 'Content-Type: application/sdp'],
      body: pcmuAnswer(47000),
    });
    await eventually(() => expect(trunk.of('BYE')).toHaveLength(1));
    const [ack] = trunk.of('ACK');
    const [bye] = trunk.of('BYE');
    expect(ack.uri).toBe(`sip:callee@127.0.0.1:${trunk.port}`);
    expect(bye.headers.get('to')?.[0]).toMatch(/;tag=t3$/);
    expect(bye.headers.get('from')).toEqual(invite.headers.get('from'));
    expect(bye.headers.get('cseq')).toEqual(['2 BYE']);
    expect(updates).toEqual([
      { kind: 'ringing' },
      { kind: 'ended', outcome: 'no-answer', detail: 'no answer within 3000 ms' },
    ]);
    expect((await gateway?.get('/v1/calls?state=all'))?.body.calls).toEqual([]);
  });

  it('a retransmitted 2xx is ACKed again (RFC 6026), and a 401 with no credentials configured fails', async () => {
    const { trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const ok = {
      toTag: 't4',
      headers: [`Contact: <sip:callee@127.0.0.1:${trunk.port}>`, 'Content-Type: application/sdp'],
      body: pcmuAnswer(47002),
    };
    trunk.respond(trunk.of('INVITE')[0], 200, 'OK', ok);
    await eventually(() => expect(updates.map((u) => u.kind)).toEqual(['answered']));
    trunk.respond(trunk.of('INVITE')[0], 200, 'OK', ok);
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(2));
    expect(new Set(trunk.of('ACK').map((a) => a.raw))).toHaveProperty('size', 1);

    const second = await place(dialer, request('dial_t2'));
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(2));
    trunk.respond(trunk.of('INVITE')[1], 401, 'Unauthorized', {
      toTag: 't5',
      headers: ['WWW-Authenticate: Digest realm="x", nonce="y", qop="auth"'],
    });
    await eventually(() =>
      expect(second.updates).toEqual([
        {
          kind: 'ended',
          outcome: 'failed',
          status: 401,
          detail: '401 Unauthorized: the trunk asks for credentials and SIP_TRUNK_USER is not set',
        },
      ]),
    );
  });

  it('a second fork that answers too is ACKed and hung up once; the first stays the call (§13.2.2.4)', async () => {
    const { trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const invite = trunk.of('INVITE')[0];
    const answer = (toTag: string, port: number) => ({
      toTag,
      headers: [`Contact: <sip:${toTag}@127.0.0.1:${trunk.port}>`, 'Content-Type: application/sdp'],
      body: pcmuAnswer(port),
    });
    trunk.respond(invite, 200, 'OK', answer('f1', 47004));
    await eventually(() => expect(updates.map((u) => u.kind)).toEqual(['answered']));
    trunk.respond(invite, 200, 'OK', answer('f2', 47006));
    await eventually(() => expect(trunk.of('BYE')).toHaveLength(1));
    expect(trunk.of('BYE')[0].uri).toBe(`sip:f2@127.0.0.1:${trunk.port}`);
    // f2 retransmits its 2xx: ACKed again, no second BYE; f1 is still the one call.
    trunk.respond(invite, 200, 'OK', answer('f2', 47006));
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(3));
    expect(trunk.of('ACK').map((a) => a.uri)).toEqual([
      `sip:f1@127.0.0.1:${trunk.port}`,
      `sip:f2@127.0.0.1:${trunk.port}`,
      `sip:f2@127.0.0.1:${trunk.port}`,
    ]);
    expect(trunk.of('BYE')).toHaveLength(1);
    expect(updates.map((u) => u.kind)).toEqual(['answered']);
    expect((await gateway?.get('/v1/calls'))?.body.calls).toHaveLength(1);
  });

  it('a 302 is followed: the INVITE again to its Contact (CSeq 2, same Call-ID and To, through the trunk), then answered', async () => {
    const { trunk, dialer } = await start();
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const first = trunk.of('INVITE')[0];
    const moved = `sip:+15550001111@127.0.0.1:${trunk.port};user=phone`;
    trunk.respond(first, 302, 'Moved Temporarily', { toTag: 'r1', headers: [`Contact: "Desk" <${moved}>`] });
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(2));
    const second = trunk.of('INVITE')[1];
    expect(second.uri).toBe(moved);
    expect(second.headers.get('cseq')).toEqual(['2 INVITE']);
    expect(second.headers.get('call-id')).toEqual(first.headers.get('call-id'));
    expect(second.headers.get('to')).toEqual(first.headers.get('to'));
    expect(trunk.of('ACK')).toHaveLength(1); // the 302, ACKed by its transaction
    trunk.respond(second, 200, 'OK', {
      toTag: 'r2',
      headers: [`Contact: <sip:callee@127.0.0.1:${trunk.port}>`, 'Content-Type: application/sdp'],
      body: pcmuAnswer(47010),
    });
    await eventually(() => expect(updates.map((u) => u.kind)).toEqual(['answered']));
  });

  it('redirects that loop, go on past three, or name no sip: Contact end the attempt failed, saying why', async () => {
    const { trunk, dialer } = await start();
    const target = (n: number) => `sip:hop${n}@127.0.0.1:${trunk.port}`;
    const loop = await place(dialer, request('dial_loop'));
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    trunk.respond(trunk.of('INVITE')[0], 302, 'Moved', { toTag: 'l1', headers: [`Contact: <${target(1)}>`] });
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(2));
    trunk.respond(trunk.of('INVITE')[1], 302, 'Moved', { toTag: 'l2', headers: [`Contact: <${target(1)}>`] });
    await eventually(() =>
      expect(loop.updates).toEqual([
        { kind: 'ended', outcome: 'failed', status: 302, detail: '302 Moved: a redirect loop' },
      ]),
    );

    const hops = await place(dialer, request('dial_hops'));
    for (let n = 0; n < 4; n++) {
      await eventually(() => expect(trunk.of('INVITE')).toHaveLength(3 + n));
      trunk.respond(trunk.of('INVITE')[2 + n], 301, 'Moved Permanently', {
        toTag: `h${n}`,
        headers: [`Contact: <${target(10 + n)}>`],
      });
    }
    await eventually(() =>
      expect(hops.updates).toEqual([
        {
          kind: 'ended',
          outcome: 'failed',
          status: 301,
          detail: '301 Moved Permanently: more than 3 redirects',
        },
      ]),
    );
    expect(trunk.of('INVITE')).toHaveLength(6);

    const nowhere = await place(dialer, request('dial_nowhere'));
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(7));
    trunk.respond(trunk.of('INVITE')[6], 302, 'Moved', {
      toTag: 'n1',
      headers: ['Contact: <tel:+15550001111>'],
    });
    await eventually(() =>
      expect(nowhere.updates).toEqual([
        { kind: 'ended', outcome: 'failed', status: 302, detail: '302 Moved: no sip: Contact to follow' },
      ]),
    );
  });

  it("over TCP (;transport=tcp): one connection, Via and Contact say TCP, nothing resent; the ACK and the callee's BYE ride it", async () => {
    const { clock, trunk, dialer } = await start({}, 'tcp');
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    const invite = trunk.of('INVITE')[0];
    expect(invite.headers.get('via')?.[0]).toMatch(/^SIP\/2\.0\/TCP /);
    expect(invite.headers.get('contact')?.[0]).toMatch(/;transport=tcp>$/);
    await clock.advance(8_000); // Timer A is for UDP only (§17.1.1.2)
    expect(trunk.of('INVITE')).toHaveLength(1);
    trunk.respond(invite, 180, 'Ringing', { toTag: 'c1' });
    trunk.respond(invite, 200, 'OK', {
      toTag: 'c1',
      headers: [
        `Contact: <sip:callee@127.0.0.1:${trunk.port};transport=tcp>`,
        'Content-Type: application/sdp',
      ],
      body: pcmuAnswer(47012),
    });
    await eventually(() => expect(updates.map((u) => u.kind)).toEqual(['ringing', 'answered']));
    await eventually(() => expect(trunk.of('ACK')).toHaveLength(1));
    expect(trunk.of('ACK')[0].headers.get('via')?.[0]).toMatch(/^SIP\/2\.0\/TCP /);
    expect(trunk.connections).toHaveLength(1);
    const callSid = (updates[1] as { callSid: string }).callSid;
    const call = gateway?.app.registry.get(callSid);
    expect(call?.endReason).toBeUndefined();

    const h = (name: string) => invite.headers.get(name)?.[0] ?? '';
    trunk.sendOn(
      trunk.connections[0],
      [
        `BYE sip:voxline@127.0.0.1 SIP/2.0`,
        'Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKcalleebye1',
        `From: ${h('to')};tag=c1`,
        `To: ${h('from')}`,
        `Call-ID: ${h('call-id')}`,
        'CSeq: 1 BYE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    await eventually(() => expect(trunk.answered.has(h('call-id'))).toBe(true)); // its 200, on the same connection
    await eventually(() => expect(call?.endReason).toBe('bye'));
    expect(trunk.connections).toHaveLength(1);
  });

  it('a TCP trunk that refuses the connection: the dial is refused at once, saying so', async () => {
    const { trunk, dialer } = await start({}, 'tcp');
    trunk.close(); // nothing listens on its port now
    await expect(place(dialer)).rejects.toMatchObject({
      code: 'VL_ERR_CALL_CONTROL_FAILED',
      message: expect.stringMatching(/refused or did not take a TCP connection/),
    });
    expect(dialer.inFlight).toBe(0);
  });

  it("a proxy challenge then the trunk's: both answered on the last INVITE, the first nonce with nc=00000002", async () => {
    const { trunk, dialer } = await start({ SIP_TRUNK_USER: 'alice', SIP_TRUNK_PASSWORD: 'pw-never-logged' });
    const { updates } = await place(dialer);
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(1));
    trunk.respond(trunk.of('INVITE')[0], 407, 'Proxy Authentication Required', {
      toTag: 'p1',
      headers: ['Proxy-Authenticate: Digest realm="proxy", nonce="n1", qop="auth"'],
    });
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(2));
    const second = trunk.of('INVITE')[1];
    expect(second.headers.get('proxy-authorization')?.[0]).toMatch(/nonce="n1".*nc=00000001/);
    trunk.respond(second, 401, 'Unauthorized', {
      toTag: 'p2',
      headers: ['WWW-Authenticate: Digest realm="trunk", nonce="n2", qop="auth"'],
    });
    await eventually(() => expect(trunk.of('INVITE')).toHaveLength(3));
    const third = trunk.of('INVITE')[2];
    expect(third.headers.get('proxy-authorization')?.[0]).toMatch(/nonce="n1".*nc=00000002/);
    expect(third.headers.get('authorization')?.[0]).toMatch(/realm="trunk".*nonce="n2".*nc=00000001/);
    expect(third.headers.get('cseq')).toEqual(['3 INVITE']);
    expect(updates).toEqual([]);
  });

  it('limits: SIP_TRUNK_MAX_DIALS attempts at once (503-like VL_ERR_CAPACITY), targets that are not E.164 or sip: refused', async () => {
    const { dialer } = await start({ SIP_TRUNK_MAX_DIALS: '1' });
    await place(dialer);
    await expect(dialer.place(request('dial_t2'), () => undefined)).rejects.toMatchObject({
      code: 'VL_ERR_CAPACITY',
      retryAfterS: 5,
    });
    await dialer.cancel('dial_t1'); // no provisional yet: the slot is free at once
    await expect(
      dialer.place(request('dial_t3', { to: 'sip:x@y>\r\nX-Evil: 1' }), () => undefined),
    ).rejects.toMatchObject({ code: 'VL_ERR_BAD_REQUEST' });
    await expect(dialer.place(request('dial_t4', { to: 'hello' }), () => undefined)).rejects.toMatchObject({
      code: 'VL_ERR_BAD_REQUEST',
    });
    await dialer.close();
    await expect(dialer.place(request('dial_t5'), () => undefined)).rejects.toMatchObject({
      code: 'VL_ERR_DRAINING',
    });
  });
});
