import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { buildRtp, parseRtp } from '../../../src/carriers/sip/rtp.js';
import { LlmDouble } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { inDialog, invite, newCallId, SipPeer, type SipResponse } from '../../doubles/sip-peer.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { demoCall } from '../../helpers/media.js';

let gateway: Gateway | undefined;
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
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
      SIP_RTP_PORTS: '43000-43998',
      SHUTDOWN_DRAIN_MS: '500',
      ...env,
    },
    [],
    clock ? { clock } : {},
  );
  const peer = await SipPeer.open(gateway.edgePorts.sip as number);
  closers.push(() => peer.close());
  return { gw: gateway, peer };
}

async function udp(bind = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, bind, resolve));
  closers.push(() => socket.close());
  return socket;
}

/** INVITE → 200 → ACK; returns the 200 and voxline's RTP port. */
async function answeredCall(
  peer: SipPeer,
  media: Socket,
  options: { user?: string; extraHeaders?: string[] } = {},
) {
  const callId = newCallId();
  peer.send(invite({ callId, peer, mediaPort: media.address().port, ...options }));
  const ok = await peer.response(callId, 200);
  peer.send(inDialog('ACK', ok, peer, 1));
  return { callId, ok, rtpPort: Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]) };
}

function reInvite(
  ok: SipResponse,
  peer: SipPeer,
  cseq: number,
  direction: string,
  mediaPort: number,
): string {
  const sdp = `v=0\r\no=peer 1 ${cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${mediaPort} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=${direction}\r\n`;
  return inDialog('INVITE', ok, peer, cseq)
    .replace('Content-Length: 0', `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}`)
    .concat(sdp);
}

describe('SIP dialogs: in-call behaviour', () => {
  it('an X-Voxline-Vocabulary header becomes the call’s vocabulary parameter (context bias for its refined transcript)', async () => {
    const { gw, peer } = await start();
    const { ok } = await answeredCall(peer, await udp(), {
      extraHeaders: ['X-Voxline-Vocabulary: Quillara, Alder Creek Design'],
    });
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    expect((await gw.call(sid)).customParameters).toMatchObject({
      user: 'voxline',
      vocabulary: 'Quillara, Alder Creek Design',
    });
    peer.send(inDialog('BYE', ok, peer, 2));
  });

  it('SIP INFO key presses (application/dtmf-relay) reach the call like RFC 4733 ones', async () => {
    const { gw, peer } = await start();
    const { ok } = await answeredCall(peer, await udp());
    const body = 'Signal=7\r\nDuration=160\r\n';
    peer.send(
      inDialog('INFO', ok, peer, 2)
        .replace(
          'Content-Length: 0',
          `Content-Type: application/dtmf-relay\r\nContent-Length: ${body.length}`,
        )
        .concat(body),
    );
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    await eventually(async () => expect((await gw.call(sid)).dtmf.map((d) => d.digit)).toEqual(['7']));
    peer.send(inDialog('BYE', ok, peer, 3));
  });

  it('a held call is not idle: no RTP for longer than MEDIA_IDLE_TIMEOUT_MS while on hold, and the call lives on', async () => {
    const clock = new ManualClock();
    const { gw, peer } = await start({ MEDIA_IDLE_TIMEOUT_MS: '600' }, clock);
    const media = await udp();
    const { callId, ok, rtpPort } = await answeredCall(peer, media);
    media.send(buildRtp(0, 1, 0, 0x42, new Uint8Array(160)), rtpPort, '127.0.0.1');
    peer.send(reInvite(ok, peer, 2, 'sendonly', media.address().port));
    const answered = (cseq: string) =>
      peer.responsesTo(callId).find((r) => r.status === 200 && r.headers.get('cseq') === cseq);
    await eventually(() => expect(answered('2 INVITE')?.body.toString()).toContain('a=recvonly'));
    peer.send(inDialog('ACK', ok, peer, 2));
    await peer.roundTrip();
    await clock.advance(1500); // well past the idle timeout, on hold
    await peer.roundTrip();
    expect(gw.app.registry.liveCount).toBe(1);
    expect(peer.requests.map((r) => r.method)).not.toContain('BYE');
    peer.send(reInvite(ok, peer, 3, 'sendrecv', media.address().port));
    await eventually(() => expect(answered('3 INVITE')?.body.toString()).toContain('a=sendrecv'));
    peer.send(inDialog('ACK', ok, peer, 3));
    await peer.roundTrip();
    // Resumed and silent again: now the idle timeout applies, and voxline hangs up with a BYE.
    await clock.advance(1000);
    await eventually(() => expect(peer.requests.map((r) => r.method)).toContain('BYE'));
    const sid = (await gw.get('/v1/calls?state=ended')).body.calls[0].callSid;
    expect((await gw.call(sid)).status.map((s) => s.event)).toEqual(['hold', 'resume']);
  });

  it('a new SSRC from the same host but another port (an SBC failing over) is followed, not refused', async () => {
    const { gw, peer } = await start();
    const first = await udp();
    const second = await udp();
    const { ok, rtpPort } = await answeredCall(peer, first);
    for (let seq = 0; seq < 5; seq++)
      first.send(buildRtp(0, seq, seq * 160, 0xaaa, new Uint8Array(160).fill(0xff)), rtpPort, '127.0.0.1');
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    // The first source is latched (its packets are in) before the second starts.
    await eventually(async () => expect((await gw.call(sid)).rtp?.[0]).toMatchObject({ packets: 5 }));
    for (let seq = 900; seq < 905; seq++)
      second.send(
        buildRtp(0, seq, 777_000 + seq * 160, 0xbbb, new Uint8Array(160).fill(0xff)),
        rtpPort,
        '127.0.0.1',
      );
    await eventually(async () =>
      expect((await gw.call(sid)).rtp?.[0]).toMatchObject({
        packets: 10,
        ssrcChanges: 1,
        lost: 0,
        refused: {},
      }),
    );
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(async () =>
      expect((await gw.call(sid)).legs[0]).toMatchObject({ audioSeconds: 0.2, gapFilledMs: 0 }),
    );
  });

  it('counts RTP loss per stream from sequence gaps, and fills the missing audio with counted silence', async () => {
    const { gw, peer } = await start();
    const media = await udp();
    const { ok, rtpPort } = await answeredCall(peer, media);
    for (const seq of [0, 1, 2, 5, 6, 7, 8, 9, 10, 11])
      media.send(buildRtp(0, seq, seq * 160, 0x77, new Uint8Array(160).fill(0xff)), rtpPort, '127.0.0.1');
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    await eventually(async () =>
      expect((await gw.call(sid)).rtp?.[0]).toMatchObject({ packets: 10, lost: 2 }),
    );
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(async () =>
      expect((await gw.call(sid)).legs[0]).toMatchObject({ audioSeconds: 0.2, gapFilledMs: 40 }),
    );
    expect((await gw.get('/metrics')).body).toMatch(/voxline_rtp_packets_lost_total\{ingress="sip"\} 2/);
  });

  it('while draining, a new INVITE gets 503 with Retry-After; the live call is ended with a BYE', async () => {
    const { gw, peer } = await start({ SHUTDOWN_DRAIN_MS: '300' });
    await answeredCall(peer, await udp());
    const closing = gw.app.server.close();
    await eventually(() => expect(gw.app.registry.draining).toBe(true));
    const late = newCallId();
    peer.send(invite({ callId: late, peer }));
    expect((await peer.response(late, 503)).headers.get('retry-after')).toBe('30');
    await closing;
    gateway = undefined;
    expect(peer.requests.map((r) => r.method)).toContain('BYE');
  });

  it('an INVITE body that is not SDP: 415 with Accept; UPDATE carrying SDP: 488; a session-refresh UPDATE: 200', async () => {
    const { peer } = await start();
    const callId = newCallId();
    peer.send(invite({ callId, peer }).replace('Content-Type: application/sdp', 'Content-Type: text/plain'));
    expect((await peer.response(callId, 415)).headers.get('accept')).toContain('application/sdp');
    const { callId: live, ok } = await answeredCall(peer, await udp());
    peer.send(inDialog('UPDATE', ok, peer, 2));
    await eventually(() =>
      expect(
        peer.responsesTo(live).some((r) => r.headers.get('cseq') === '2 UPDATE' && r.status === 200),
      ).toBe(true),
    );
    const sdp =
      'v=0\r\no=peer 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
    peer.send(
      inDialog('UPDATE', ok, peer, 3)
        .replace('Content-Length: 0', `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}`)
        .concat(sdp),
    );
    await eventually(() =>
      expect(
        peer.responsesTo(live).some((r) => r.headers.get('cseq') === '3 UPDATE' && r.status === 488),
      ).toBe(true),
    );
    peer.send(inDialog('BYE', ok, peer, 4));
  });
});

describe('SIP agent mode: voxline answers into the call over RTP', { timeout: 30_000 }, () => {
  const demo = demoCall('greeting');
  let vllm: VllmRealtimeDouble;
  let llm: LlmDouble;

  beforeAll(async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demo]) });
    await vllm.listen();
    llm = new LlmDouble(() => ({
      text: 'Goodbye.',
      toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }],
    }));
    await llm.listen();
  });

  afterAll(async () => {
    await Promise.all([vllm.close(), llm.close()]);
  });

  it('the dialled user routes to agent mode: the greeting arrives as paced PCMU, the caller is heard, end_call hangs up with a BYE', async () => {
    const { gw, peer } = await start({
      VLLM_URL: vllm.url,
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'sk-test',
      AGENT_GREETING: 'Hello, this is voxline.',
      SIP_ROUTES: 'support=agent',
    });
    const media = await udp();
    const heard: { at: number; payload: Uint8Array; marker: boolean }[] = [];
    media.on('message', (data) => {
      const packet = parseRtp(data);
      if (packet)
        heard.push({ at: performance.now(), payload: Buffer.from(packet.payload), marker: packet.marker });
    });
    const { rtpPort } = await answeredCall(peer, media, { user: 'support' });
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    expect((await gw.call(sid)).mode).toBe('agent');
    // A phone's media starts at answer: its first packet is where voxline sends (SIP_ALLOW is
    // empty, so nothing is sent before it, and the greeting waits for it rather than being lost).
    const silence = new Uint8Array(160).fill(0xff);
    media.send(buildRtp(0, 0, 0, 0x99, silence), rtpPort, '127.0.0.1');
    // The caller speaks (real time, 20 ms packets) after the greeting.
    await eventually(() => expect(heard.some((h) => h.payload.some((b) => b !== 0xff))).toBe(true), 10_000);
    // The caller speaks, then stays on the line in silence (RTP goes on, as from a real phone).
    const caller = demo.caller;
    const t0 = performance.now();
    for (let k = 0; k < 1000 && !peer.requests.some((r) => r.method === 'BYE'); k++) {
      const payload = k * 160 < caller.length ? caller.subarray(k * 160, k * 160 + 160) : silence;
      media.send(buildRtp(0, k + 1, (k + 1) * 160, 0x99, payload), rtpPort, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + (k + 1) * 20 - performance.now())));
    }
    expect(peer.requests.map((r) => r.method)).toContain('BYE');

    const speech = heard.filter((h) => h.payload.some((b) => b !== 0xff));
    expect(speech.length).toBeGreaterThan(40); // about a second of flite speech and more
    expect(heard.every((h) => h.payload.length === 160)).toBe(true);
    const span = speech.at(-1)!.at - speech[0].at;
    expect(span).toBeGreaterThan((speech.length - 1) * 20 * 0.8); // paced at real time, not burst
    expect(
      Math.max(...mulawToPcm(Uint8Array.from(speech.flatMap((h) => [...h.payload]))).map(Math.abs)),
    ).toBeGreaterThan(1000);
    const ended = await gw.call(sid);
    expect(ended.endReason).toBe('agent_end_call');
    const transcript = (await gw.get(`/v1/calls/${sid}/transcript`)).body;
    expect(transcript.utterances.map((u: { speaker: string }) => u.speaker)).toEqual(
      expect.arrayContaining(['agent', 'caller']),
    );
  });
});

describe('SIPREC edge cases', () => {
  function siprecInvite(peer: SipPeer, callId: string, labels: string[]): string {
    const media = labels
      .map(
        (l, i) =>
          `m=audio ${50000 + 2 * i} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:${l}\r\na=sendonly\r\n`,
      )
      .join('');
    const sdp = `v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n${media}`;
    const body = `--b\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--b--\r\n`;
    return invite({ callId, peer })
      .replace(/Content-Type: application\/sdp[\s\S]*$/, '')
      .replace(
        'Max-Forwards: 70\r\n',
        `Max-Forwards: 70\r\nRequire: siprec\r\nContact: <sip:src@127.0.0.1>;+sip.src\r\nContent-Type: multipart/mixed;boundary=b\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      )
      .replace(/Contact: <sip:peer@[^>]+>\r\n/, '');
  }

  it('a third (mixed) stream is refused with port 0, the two legs are kept; one stream alone is one leg labelled mixed', async () => {
    const { gw, peer } = await start();
    const three = newCallId();
    peer.send(siprecInvite(peer, three, ['1', '2', '3']));
    const ok = await peer.response(three, 200);
    const ports = [...ok.body.toString().matchAll(/m=audio (\d+)/g)].map((m) => Number(m[1]));
    expect(ports).toHaveLength(3);
    expect(ports[2]).toBe(0);
    expect(ports[0]).toBeGreaterThan(0);
    expect(ok.headers.get('contact')).toMatch(/;\+sip\.srs$/);
    peer.send(inDialog('ACK', ok, peer, 1));
    const one = newCallId();
    peer.send(siprecInvite(peer, one, ['only']));
    const single = await peer.response(one, 200);
    peer.send(inDialog('ACK', single, peer, 1));
    const { calls } = (await gw.get('/v1/calls')).body;
    const legs = calls.map((c: { legs: { label: string }[] }) => c.legs.map((l) => l.label));
    expect(legs).toEqual(expect.arrayContaining([['caller', 'agent'], ['mixed']]));
    peer.send(inDialog('BYE', ok, peer, 2));
    peer.send(inDialog('BYE', single, peer, 2));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });

  it('an SRC pause (re-INVITE, multipart, streams inactive) outlasting the idle timeout keeps the recording; resume goes on', async () => {
    const clock = new ManualClock();
    const { gw, peer } = await start({ MEDIA_IDLE_TIMEOUT_MS: '600' }, clock);
    const callId = newCallId();
    peer.send(siprecInvite(peer, callId, ['1', '2']));
    const ok = await peer.response(callId, 200);
    peer.send(inDialog('ACK', ok, peer, 1));
    const reoffer = (cseq: number, direction: string) => {
      const media = ['1', '2']
        .map(
          (l, i) =>
            `m=audio ${50000 + 2 * i} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:${l}\r\na=${direction}\r\n`,
        )
        .join('');
      const sdp = `v=0\r\no=src 1 ${cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n${media}`;
      const body = `--b\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode></recording>\r\n--b--\r\n`;
      return inDialog('INVITE', ok, peer, cseq)
        .replace(
          'Content-Length: 0',
          `Content-Type: multipart/mixed;boundary=b\r\nContent-Length: ${body.length}`,
        )
        .concat(body);
    };
    const answered = (cseq: string) =>
      peer.responsesTo(callId).find((r) => r.status === 200 && r.headers.get('cseq') === cseq);
    peer.send(reoffer(2, 'inactive'));
    await eventually(() => expect(answered('2 INVITE')?.body.toString()).toContain('a=inactive'));
    peer.send(inDialog('ACK', ok, peer, 2));
    await peer.roundTrip();
    await clock.advance(1500); // well past the idle timeout, paused
    await peer.roundTrip();
    expect(gw.app.registry.liveCount).toBe(1);
    peer.send(reoffer(3, 'sendonly'));
    await eventually(() => expect(answered('3 INVITE')?.body.toString()).toContain('a=recvonly'));
    peer.send(inDialog('ACK', ok, peer, 3));
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    expect((await gw.call(sid)).status.map((s) => s.event)).toEqual(['hold', 'resume']);
    peer.send(inDialog('BYE', ok, peer, 4));
    await eventually(() => expect(gw.app.registry.liveCount).toBe(0));
  });
});
