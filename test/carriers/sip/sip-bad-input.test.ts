import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRtp } from '../../../src/carriers/sip/rtp.js';
import { inDialog, invite, newCallId, SipPeer } from '../../doubles/sip-peer.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';

let gateway: Gateway | undefined;
const peers: SipPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.close();
  await gateway?.close();
  gateway = undefined;
});

async function start(
  env: Record<string, string> = {},
  clock?: ManualClock,
): Promise<{ gw: Gateway; peer: SipPeer }> {
  gateway = await startGateway(
    {
      SIP_PORT: '0',
      SIP_BIND: '127.0.0.1',
      SIP_RTP_PORTS: '42000-42998',
      ...env,
    },
    [],
    clock ? { clock } : {},
  );
  const peer = await SipPeer.open(gateway.edgePorts.sip as number);
  peers.push(peer);
  return { gw: gateway, peer };
}

const metrics = async (gw: Gateway) => (await gw.get('/metrics')).body as string;

describe('SIP: bad input gets a clear answer, nothing crashes, other calls go on', () => {
  it('a malformed message gets 400 with the reason when it can be answered, silence when not; the server goes on', async () => {
    const { gw, peer } = await start();
    const callId = newCallId();
    peer.send(
      `INVITE sip:voxline@127.0.0.1\r\nVia: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKbad1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\n\r\n`,
    );
    const bad = await peer.response(callId, 400);
    expect(bad.headers.get('warning')).toMatch(/399 voxline "bad start line/);
    peer.send(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])); // TLS hello bytes
    peer.send('NOTSIP\r\n\r\n');
    const ok = newCallId();
    peer.send(
      `OPTIONS sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKopt1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: ${ok}\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
    );
    const options = await peer.response(ok, 200);
    expect(options.headers.get('allow')).toContain('INVITE');
    expect(options.headers.get('accept')).toContain('application/rs-metadata+xml');
    expect(await metrics(gw)).toMatch(/voxline_malformed_messages_total\{reason="sip_malformed"\} 3/);
  });

  it('a TCP stream without Content-Length cannot be framed: 400, then the connection is closed', async () => {
    const { gw } = await start();
    const socket = connect(gw.edgePorts.sip as number, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(
      'OPTIONS sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKt1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: tcp-1\r\nCSeq: 1 OPTIONS\r\n\r\n',
    );
    await closed;
    expect(Buffer.concat(received).toString()).toMatch(
      /^SIP\/2\.0 400 Bad Request\r\n[\s\S]*no Content-Length on a stream transport/,
    );
  });

  it('an offer with no codec voxline takes (G.729 only): 488 with a 304 warning, and no call', async () => {
    const { gw, peer } = await start();
    const callId = newCallId();
    peer.send(invite({ callId, peer, formats: '18', rtpMaps: ['a=rtpmap:18 G729/8000'] }));
    const refused = await peer.response(callId, 488);
    expect(refused.headers.get('warning')).toMatch(/^304 voxline "no common codec/);
    expect(refused.headers.get('to')).toMatch(/;tag=/);
    peer.send(inDialog('ACK', refused, peer, 1));
    expect((await gw.get('/v1/calls?state=all')).body.calls).toEqual([]);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="no_common_codec"\} 1/,
    );
  });

  it('an extension voxline lacks in Require (100rel): 420 naming it', async () => {
    const { peer } = await start();
    const callId = newCallId();
    peer.send(invite({ callId, peer, extraHeaders: ['Require: 100rel'] }));
    expect((await peer.response(callId, 420)).headers.get('unsupported')).toBe('100rel');
  });

  it('a source outside SIP_ALLOW: 403 for every request', async () => {
    const { gw, peer } = await start({ SIP_ALLOW: '10.0.0.0/8, 192.168.1.7' });
    const callId = newCallId();
    peer.send(invite({ callId, peer }));
    expect((await peer.response(callId, 403)).headers.get('warning')).toMatch(/source not allowed/);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="source_not_allowed"\} 1/,
    );
  });

  it('digest auth: 401 with a challenge, 403 for a wrong password, the call for the right one', async () => {
    const { gw, peer } = await start({ SIP_AUTH_USER: 'trunk', SIP_AUTH_PASSWORD: 's3cret-pass' });
    const answer = (challenge: string, password: string) => {
      const nonce = /nonce="([^"]+)"/.exec(challenge)?.[1] as string;
      const md5 = (s: string) => createHash('md5').update(s).digest('hex');
      const ha1 = md5(`trunk:voxline:${password}`);
      const ha2 = md5('INVITE:sip:voxline@127.0.0.1');
      const response = md5(`${ha1}:${nonce}:00000001:abc:auth:${ha2}`);
      return `Authorization: Digest username="trunk", realm="voxline", nonce="${nonce}", uri="sip:voxline@127.0.0.1", qop=auth, nc=00000001, cnonce="abc", response="${response}", algorithm=MD5`;
    };
    const first = newCallId();
    peer.send(invite({ callId: first, peer }));
    const challenge = (await peer.response(first, 401)).headers.get('www-authenticate') as string;
    expect(challenge).toMatch(/^Digest realm="voxline", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    const wrong = newCallId();
    peer.send(invite({ callId: wrong, peer, extraHeaders: [answer(challenge, 'guess')] }));
    await peer.response(wrong, 403);
    const right = newCallId();
    peer.send(invite({ callId: right, peer, cseq: 2, extraHeaders: [answer(challenge, 's3cret-pass')] }));
    const ok = await peer.response(right, 200);
    peer.send(inDialog('ACK', ok, peer, 2));
    peer.send(inDialog('BYE', ok, peer, 3));
    await eventually(async () => expect((await gw.get('/v1/calls?state=ended')).body.calls).toHaveLength(1));
  });

  it('a flood of INVITEs beyond SIP_MAX_CALLS: the extra ones get 503 with Retry-After; the calls in progress are unharmed', async () => {
    const { gw, peer } = await start({ SIP_MAX_CALLS: '2' });
    const ids = Array.from({ length: 2 }, newCallId);
    for (const callId of ids) peer.send(invite({ callId, peer }));
    const answered = await Promise.all(ids.map((id) => peer.response(id, 200)));
    for (const ok of answered) peer.send(inDialog('ACK', ok, peer, 1));
    const flood = Array.from({ length: 20 }, newCallId);
    for (const callId of flood) peer.send(invite({ callId, peer }));
    const refused = await Promise.all(flood.map((id) => peer.response(id, 503)));
    expect(refused.every((r) => r.headers.get('retry-after') === '5')).toBe(true);
    expect(gw.app.registry.liveCount).toBe(2);
    for (const ok of answered) peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(async () => {
      const { calls } = (await gw.get('/v1/calls?state=ended')).body;
      expect(calls.map((c: { endReason: string }) => c.endReason)).toEqual(['bye', 'bye']);
    });
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="sip_max_calls"\} 20/,
    );
  });

  it('a burst of INVITEs all at once cannot slip past SIP_MAX_CALLS together (those still ringing count)', async () => {
    const { gw, peer } = await start({ SIP_MAX_CALLS: '2', SIP_RING_MS: '300' });
    const burst = Array.from({ length: 12 }, newCallId);
    for (const callId of burst) peer.send(invite({ callId, peer }));
    const finals = await Promise.all(burst.map((id) => peer.response(id)));
    expect(finals.filter((r) => r.status === 200)).toHaveLength(2);
    expect(finals.filter((r) => r.status === 503)).toHaveLength(10);
    expect(gw.app.registry.liveCount).toBe(2);
    for (const ok of finals.filter((r) => r.status === 200)) {
      peer.send(inDialog('ACK', ok, peer, 1));
      peer.send(inDialog('BYE', ok, peer, 2));
    }
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });

  it('RTP from an unexpected source is refused and counted; the real caller’s audio still gets through', async () => {
    const { gw, peer } = await start();
    const callId = newCallId();
    const media = createSocket('udp4');
    await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
    const intruder = createSocket('udp4');
    await new Promise<void>((resolve) => intruder.bind(0, '127.0.0.2', resolve));
    peer.send(invite({ callId, peer, mediaPort: media.address().port }));
    const ok = await peer.response(callId, 200);
    peer.send(inDialog('ACK', ok, peer, 1));
    const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
    const packet = (seq: number) => buildRtp(0, seq, seq * 160, 0x1234, new Uint8Array(160).fill(0xff));
    for (let seq = 0; seq < 10; seq++) {
      intruder.send(
        buildRtp(0, seq, seq * 160, 0x6666, new Uint8Array(160).fill(0x00)),
        rtpPort,
        '127.0.0.1',
      );
      media.send(packet(seq), rtpPort, '127.0.0.1');
    }
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    await eventually(async () =>
      expect((await gw.call(sid)).rtp?.[0]).toMatchObject({
        packets: 10,
        refused: { unexpected_source: 10 },
      }),
    );
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(async () => expect((await gw.call(sid)).state).toBe('ended'));
    expect((await gw.call(sid)).legs[0].audioSeconds).toBe(0.2);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="rtp_unexpected_source"\} 10/,
    );
    media.close();
    intruder.close();
  });

  it('requests that fit no dialog or method: 481 for a stray BYE, 405 with Allow for SUBSCRIBE', async () => {
    const { peer } = await start();
    const stray = newCallId();
    peer.send(
      `BYE sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKbye9\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=nope\r\nCall-ID: ${stray}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`,
    );
    await peer.response(stray, 481);
    const sub = newCallId();
    peer.send(
      `SUBSCRIBE sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKsub9\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: ${sub}\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n`,
    );
    expect((await peer.response(sub, 405)).headers.get('allow')).toContain('BYE');
  });

  it('the 200 OK is resent until the ACK comes (T1, doubling), and a retransmitted INVITE opens no second call', async () => {
    const clock = new ManualClock();
    const { gw, peer } = await start({}, clock);
    const callId = newCallId();
    const request = invite({ callId, peer, branch: 'z9hG4bKsame1' });
    const twoHundreds = () => peer.responsesTo(callId).filter((r) => r.status === 200);
    peer.send(request);
    const ok = await peer.response(callId, 200);
    peer.send(request); // the caller did not hear us yet
    await peer.roundTrip(); // the retransmission is answered (with the same 200)
    expect(twoHundreds()).toHaveLength(2);
    await clock.advance(1700); // resends at 0.5 and 1.5 s (T1, doubling)
    await peer.roundTrip();
    expect(twoHundreds()).toHaveLength(4);
    expect(new Set(twoHundreds().map((r) => r.headers.get('to'))).size).toBe(1); // one To-tag throughout
    peer.send(inDialog('ACK', ok, peer, 1));
    await peer.roundTrip(); // the ACK is in
    const settled = peer.responsesTo(callId).length;
    await clock.advance(2200); // past the next resend (3.5 s) had there been no ACK
    await peer.roundTrip();
    expect(peer.responsesTo(callId).length).toBe(settled);
    expect(gw.app.registry.liveCount).toBe(1);
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });
});
