import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRtp } from '../../../src/carriers/sip/rtp.js';
import { sipCallSid } from '../../../src/carriers/sip/sip-ids.js';
import { parseSipMessage } from '../../../src/carriers/sip/sip-message.js';
import { inDialog, invite, newCallId, SipPeer, type SipResponse } from '../../doubles/sip-peer.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';

/**
 * The SIP edge as an attacker sees it: each case here once ended the process, leaked sockets or
 * let voxline be used as a reflector. Each asserts the server stays up and answers a real call.
 */

let gateway: Gateway | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await gateway?.close();
  gateway = undefined;
});

async function start(env: Record<string, string> = {}): Promise<{ gw: Gateway; peer: SipPeer }> {
  gateway = await startGateway({
    SIP_PORT: '0',
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: '43000-43998',
    ...env,
  });
  const peer = await SipPeer.open(gateway.edgePorts.sip as number);
  closers.push(() => peer.close());
  return { gw: gateway, peer };
}

async function udpSocket(address = '127.0.0.1'): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  closers.push(() => socket.close());
  return socket;
}

const metrics = async (gw: Gateway) => (await gw.get('/metrics')).body as string;

function options(peer: SipPeer, callId: string): string {
  return `OPTIONS sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bK${randomBytes(4).toString('hex')}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
}

/** The server still answers: an OPTIONS over UDP gets its 200. */
async function stillUp(peer: SipPeer): Promise<void> {
  const id = newCallId();
  peer.send(options(peer, id));
  await peer.response(id, 200);
}

/** A whole call: INVITE, 200, ACK, 10 RTP packets, BYE; the call ends with 0.2 s of audio. */
async function realCall(gw: Gateway, peer: SipPeer): Promise<void> {
  const media = await udpSocket();
  const callId = newCallId();
  peer.send(invite({ callId, peer, mediaPort: media.address().port }));
  const ok = await peer.response(callId, 200);
  peer.send(inDialog('ACK', ok, peer, 1));
  const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
  for (let seq = 0; seq < 10; seq++)
    media.send(buildRtp(0, seq, seq * 160, 0x4242, new Uint8Array(160).fill(0x7f)), rtpPort, '127.0.0.1');
  const sid = sipCallSid(callId, 'SIP');
  await eventually(async () => expect((await gw.call(sid)).rtp?.[0]).toMatchObject({ packets: 10 }));
  peer.send(inDialog('BYE', ok, peer, 2));
  await eventually(async () => expect((await gw.call(sid)).state).toBe('ended'));
  expect((await gw.call(sid)).legs[0].audioSeconds).toBe(0.2);
}

const head = (peer: SipPeer, method: string, callId: string, via: string, cseq = `1 ${method}`) =>
  `${method} sip:voxline@127.0.0.1 SIP/2.0\r\nVia: ${via}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: ${callId}\r\nCSeq: ${cseq}\r\nContact: <sip:p@${peer.address}:${peer.port}>\r\nContent-Length: 0\r\n\r\n`;

describe('SIP hardening: no message stops voxline', () => {
  it('ACK, CANCEL and INVITE whose Via does not parse, and a response whose CSeq does not parse: dropped unanswered (a response could not be routed), counted; the server stays up, with SIP_ALLOW and digest auth on', async () => {
    const { gw, peer } = await start({
      SIP_ALLOW: '127.0.0.1',
      SIP_AUTH_USER: 'trunk',
      SIP_AUTH_PASSWORD: 'pass-word-1',
    });
    const ids = { ack: newCallId(), cancel: newCallId(), invite: newCallId(), response: newCallId() };
    peer.send(head(peer, 'ACK', ids.ack, 'garbage'));
    peer.send(head(peer, 'CANCEL', ids.cancel, 'SIP/2.0/UDP'));
    peer.send(head(peer, 'INVITE', ids.invite, '!!'));
    peer.send(
      `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: ${ids.response}\r\nCSeq: not-a-cseq\r\nContent-Length: 0\r\n\r\n`,
    );
    // A request whose CSeq does not parse: a 400 could not be matched to it either.
    const cseq = newCallId();
    peer.send(
      head(peer, 'OPTIONS', cseq, `SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKc1`, 'x OPTIONS'),
    );
    await stillUp(peer);
    for (const id of [...Object.values(ids), cseq]) expect(peer.responsesTo(id)).toEqual([]);
    expect(await metrics(gw)).toMatch(/voxline_malformed_messages_total\{reason="sip_malformed"\} 5/);
    expect(await metrics(gw)).not.toMatch(/voxline_edge_failures_total\{ingress="sip"\} [1-9]/);
  });

  it('the same messages over TCP: refused, the connection and the server stay up', async () => {
    const { gw, peer } = await start();
    const socket = connect(gw.edgePorts.sip as number, '127.0.0.1');
    closers.push(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    const reader = tcpReader(socket);
    const id = newCallId();
    socket.write(head(peer, 'ACK', id, 'garbage'));
    socket.write(head(peer, 'CANCEL', id, 'garbage; branch=1'));
    socket.write(
      `SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: ${id}\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n`,
    );
    const ok = newCallId();
    socket.write(options(peer, ok).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    await eventually(() => expect(reader.responses.map((r) => r.status)).toEqual([200]));
    expect(socket.destroyed).toBe(false);
    expect(await metrics(gw)).toMatch(/voxline_malformed_messages_total\{reason="sip_malformed"\} 3/);
    await stillUp(peer);
  });

  it('an SDP port above 65535, a payload type above 127, ptime 0, a bad rate or a host name for c=: 488 naming the field, no call, and the server stays up', async () => {
    const { gw, peer } = await start();
    const cases: [Partial<Parameters<typeof invite>[0]>, RegExp][] = [
      [{ mediaPort: 70000 }, /port/],
      [
        { formats: '0 300', rtpMaps: ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:300 telephone-event/8000'] },
        /payload type/,
      ],
      [{ rtpMaps: ['a=rtpmap:0 PCMU/8000', 'a=ptime:0'] }, /ptime/],
      [{ rtpMaps: ['a=rtpmap:0 PCMU/99999999999'] }, /rate/],
    ];
    for (const [override, warning] of cases) {
      const callId = newCallId();
      peer.send(invite({ callId, peer, ...override }));
      const refused = await peer.response(callId, 488);
      expect(refused.headers.get('warning')).toMatch(warning);
    }
    const named = newCallId();
    peer.send(invite({ callId: named, peer }).replace(/c=IN IP4 [^\r]+/, 'c=IN IP4 reflector.example'));
    expect((await peer.response(named, 488)).headers.get('warning')).toMatch(/address/);
    expect((await gw.get('/v1/calls?state=all')).body.calls).toEqual([]);
    await realCall(gw, peer);
  });

  it('an INVITE that fails after its RTP sockets opened (bad %-escape in the Request-URI, no second port for SIPREC) closes them all: the port range is never exhausted', async () => {
    // Two even ports only: a leaked socket per failed INVITE would refuse every later call.
    const { gw, peer } = await start({ SIP_RTP_PORTS: '43100-43102' });
    const before = openFds();
    for (let i = 0; i < 6; i++) {
      const callId = newCallId();
      peer.send(invite({ callId, peer, user: '%zz' }));
      const final = await peer.response(callId);
      peer.send(inDialog('ACK', final, peer, 1));
      if (final.status === 200) peer.send(inDialog('BYE', final, peer, 2));
    }
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
    await eventually(() => expect(openFds()).toBeLessThanOrEqual(before));
    await realCall(gw, peer);
  });

  it('a SIPREC INVITE whose second stream finds no free port: 503, the first stream’s socket closed, and a DTMF packet sent to it ends nothing', async () => {
    const { gw, peer } = await start({ SIP_RTP_PORTS: '43200-43202' });
    // Hold one of the two even ports, so the second stream cannot bind.
    const squatter = await udpSocketOn(43202);
    const callId = newCallId();
    peer.send(siprecInvite(peer, callId));
    const refused = await peer.response(callId);
    peer.send(inDialog('ACK', refused, peer, 1));
    // A key press at the port the first stream bound: its callback once reached for the dialog
    // before it existed (ReferenceError inside the dgram listener, the process gone).
    const sender = await udpSocket();
    const dtmf = buildRtp(101, 1, 160, 0x99, Uint8Array.from([5, 0x8a, 0, 160]));
    for (let i = 0; i < 5; i++) sender.send(dtmf, 43200, '127.0.0.1');
    await stillUp(peer);
    expect(refused.status).toBe(503);
    // 43200 was released: a real call binds it (43202 is still held).
    await realCall(gw, peer);
    squatter.close();
  });
});

describe('SIP over TCP: connections are bounded in number and in idle time', () => {
  it('beyond SIP_TCP_MAX_PER_SOURCE connections from one address are closed at once and counted; the others and UDP keep working', async () => {
    const { gw, peer } = await start({ SIP_TCP_MAX_PER_SOURCE: '4', SIP_TCP_MAX_CONNECTIONS: '100' });
    const sockets = await Promise.all(Array.from({ length: 8 }, () => tcpConnect(gw)));
    const open = await splitRefused(sockets, 4, peer);
    expect(open).toHaveLength(4);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="tcp_too_many_from_source"\} 4/,
    );
    await stillUp(peer);
  });

  it('beyond SIP_TCP_MAX_CONNECTIONS in all, new connections are closed and counted', async () => {
    const { gw, peer } = await start({ SIP_TCP_MAX_PER_SOURCE: '100', SIP_TCP_MAX_CONNECTIONS: '3' });
    const sockets = await Promise.all(Array.from({ length: 6 }, () => tcpConnect(gw)));
    expect(await splitRefused(sockets, 3, peer)).toHaveLength(3);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="tcp_too_many_connections"\} 3/,
    );
  });

  it('an idle connection and a header-dripping one are closed after SIP_TCP_IDLE_MS; a connection carrying a live call is kept', async () => {
    const { gw, peer } = await start({ SIP_TCP_IDLE_MS: '400' });
    // A call over TCP: its connection must outlive the idle time.
    const carrier = await tcpConnect(gw);
    const reader = tcpReader(carrier);
    const callId = newCallId();
    carrier.write(tcpInvite(peer, callId));
    await eventually(() => expect(reader.responses.some((r) => r.status === 200)).toBe(true));
    const ok = reader.responses.find((r) => r.status === 200) as SipResponse;
    carrier.write(inDialog('ACK', ok, peer, 1).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    // Opened after the call's last message, so their idle time runs out after the call's would.
    const idle = await tcpConnect(gw);
    const dripping = await tcpConnect(gw);
    const drip = setInterval(() => dripping.writable && dripping.write('O'), 50);
    closers.push(() => clearInterval(drip));
    expect(await closedWithin(idle, 5000)).toBe(true);
    expect(await closedWithin(dripping, 5000)).toBe(true);
    expect(carrier.destroyed).toBe(false);
    expect(gw.app.registry.liveCount).toBe(1);
    carrier.write(inDialog('BYE', ok, peer, 2).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });
});

describe('SIP state a flood could grow is bounded', () => {
  it('a TCP stream whose header never ends is cut at 64 KiB and closed for good, however much more the peer sends; other calls are untouched', async () => {
    const { gw, peer } = await start();
    const socket = await tcpConnect(gw);
    const closed = closedWithin(socket, 5000);
    const junk = Buffer.alloc(16 * 1024, 0x41);
    for (let i = 0; i < 64 && socket.writable; i++) socket.write(junk); // 1 MiB of header
    expect(await closed).toBe(true);
    expect(await metrics(gw)).toMatch(/voxline_malformed_messages_total\{reason="sip_malformed"\} 1\b/);
    await realCall(gw, peer);
  });

  it('INVITE transactions are bounded (2 × SIP_MAX_CALLS + 100): beyond, INVITEs get a stateless 503 and nothing is kept', async () => {
    const { gw, peer } = await start({ SIP_MAX_CALLS: '1' });
    const ids = Array.from({ length: 110 }, newCallId);
    const finals: SipResponse[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      // Ten at a time: a burst of 110 datagrams can overflow a loopback socket buffer.
      const batch = ids.slice(i, i + 10);
      for (const callId of batch) peer.send(invite({ callId, peer }));
      finals.push(...(await Promise.all(batch.map((id) => peer.response(id)))));
    }
    expect(finals.filter((r) => r.status === 200)).toHaveLength(1);
    expect(finals.filter((r) => r.status === 503)).toHaveLength(109);
    expect(gw.app.edges.sip?.transactionCount).toBe(102);
    expect(await metrics(gw)).toMatch(
      /voxline_ingress_refused_total\{ingress="sip",reason="too_many_transactions"\} 8/,
    );
    const ok = finals.find((r) => r.status === 200) as SipResponse;
    peer.send(inDialog('ACK', ok, peer, 1));
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });
});

describe('SIP media is not a reflector', () => {
  it('with SIP_ALLOW empty, voxline sends no RTP to the address an SDP names until media arrives from the far end; then it sends to where the media came from', async () => {
    const { gw, peer } = await start();
    // A call whose far end sends media: its received packets are this test's clock.
    const clockMedia = await udpSocket();
    let clockPackets = 0;
    clockMedia.on('message', () => clockPackets++);
    const clockCall = newCallId();
    peer.send(invite({ callId: clockCall, peer, mediaPort: clockMedia.address().port }));
    const clockOk = await peer.response(clockCall, 200);
    peer.send(inDialog('ACK', clockOk, peer, 1));
    const clockRtpPort = Number(/m=audio (\d+)/.exec(clockOk.body.toString())?.[1]);
    clockMedia.send(buildRtp(0, 1, 160, 7, new Uint8Array(160)), clockRtpPort, '127.0.0.1');

    // The other call names a third party as its media address and sends nothing.
    const victim = await udpSocket('127.0.0.3');
    let reflected = 0;
    victim.on('message', () => reflected++);
    const callId = newCallId();
    peer.send(
      invite({ callId, peer, mediaPort: victim.address().port }).replace(
        /c=IN IP4 [^\r]+/,
        'c=IN IP4 127.0.0.3',
      ),
    );
    const ok = await peer.response(callId, 200);
    peer.send(inDialog('ACK', ok, peer, 1));
    await eventually(() => expect(clockPackets).toBeGreaterThanOrEqual(25), 5000); // ≥ 0.5 s
    expect(reflected).toBe(0);

    // Media from the signalling peer's address latches the stream: voxline answers there.
    const media = await udpSocket();
    let answered = 0;
    media.on('message', () => answered++);
    const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
    media.send(buildRtp(0, 1, 160, 8, new Uint8Array(160)), rtpPort, '127.0.0.1');
    await eventually(() => expect(answered).toBeGreaterThanOrEqual(5));
    expect(reflected).toBe(0);
    for (const response of [ok, clockOk]) peer.send(inDialog('BYE', response, peer, 2));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function udpSocketOn(port: number): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
  return socket;
}

async function tcpConnect(gw: Gateway): Promise<Socket> {
  const socket = connect(gw.edgePorts.sip as number, '127.0.0.1');
  socket.on('error', () => undefined);
  closers.push(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/**
 * Waits for `refused` of the connections to be closed by the server, then proves each of the
 * others open with an OPTIONS round trip on it (no waiting to see that nothing happens).
 */
async function splitRefused(sockets: Socket[], refused: number, peer: SipPeer): Promise<Socket[]> {
  await eventually(() => expect(sockets.filter((s) => s.destroyed)).toHaveLength(refused));
  const open = sockets.filter((s) => !s.destroyed);
  for (const socket of open) {
    const reader = tcpReader(socket);
    socket.write(options(peer, newCallId()).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    await eventually(() => expect(reader.responses.map((r) => r.status)).toEqual([200]));
  }
  return open;
}

/** True once the server closed the connection; false if it had not after `ms` (a guard, not a wait). */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIP responses read off a TCP connection (framed by Content-Length). */
function tcpReader(socket: Socket): { responses: SipResponse[] } {
  const out = { responses: [] as SipResponse[] };
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(pending.subarray(0, end).toString())?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const message = parseSipMessage(pending.subarray(0, end + 4 + length));
      pending = pending.subarray(end + 4 + length);
      if (message.kind === 'response') out.responses.push(message);
    }
  });
  return out;
}

function tcpInvite(peer: SipPeer, callId: string): string {
  return invite({ callId, peer })
    .replace('SIP/2.0/UDP', 'SIP/2.0/TCP')
    .replace(/Contact: <([^>]+)>/, 'Contact: <$1;transport=tcp>');
}

/** A SIPREC INVITE with two streams (labels 1 and 2) and no metadata part. */
function siprecInvite(peer: SipPeer, callId: string): string {
  const sdp = [
    'v=0',
    `o=src 1 1 IN IP4 ${peer.address}`,
    's=-',
    `c=IN IP4 ${peer.address}`,
    't=0 0',
    'm=audio 49170 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=label:1',
    'a=sendonly',
    'm=audio 49172 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=label:2',
    'a=sendonly',
    '',
  ].join('\r\n');
  const body = `--b1\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--b1--\r\n`;
  return [
    'INVITE sip:srs@127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    `From: <sip:src@${peer.address}>;tag=${randomBytes(4).toString('hex')}`,
    'To: <sip:srs@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:src@${peer.address}:${peer.port}>;+sip.src`,
    'Require: siprec',
    'Max-Forwards: 70',
    'Content-Type: multipart/mixed;boundary=b1',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
