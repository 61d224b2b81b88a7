import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { G722Decoder } from '../../../src/audio/g722.js';
import { buildRtp, parseRtp } from '../../../src/carriers/sip/rtp.js';
import { LlmDouble } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { inDialog, invite, newCallId, SipPeer } from '../../doubles/sip-peer.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';

/*
 * G.722 over SIP/RTP against the SIP peer double, real sockets: an offer of G.722 alone is
 * answered with it (payload type 9, RTP clock 8000), the caller's packets decode to ffmpeg's
 * samples bit for bit (fixtures: test/fixtures/g722/README.md), and in agent mode voxline speaks
 * G.722 back. Which codec wins when both are offered is in sdp.test.ts.
 */

const FIXTURES = new URL('../../fixtures/g722/', import.meta.url);
const SPEECH = new Uint8Array(readFileSync(new URL('speech.g722', FIXTURES)));
const DECODED = (() => {
  const raw = readFileSync(new URL('speech.s16le', FIXTURES));
  return Int16Array.from({ length: raw.length / 2 }, (_, i) => raw.readInt16LE(2 * i));
})();
const G722_OFFER = {
  formats: '9 101',
  rtpMaps: ['a=rtpmap:9 G722/8000', 'a=rtpmap:101 telephone-event/8000'],
};

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
    SIP_RTP_PORTS: '44000-44998',
    ...env,
  });
  const peer = await SipPeer.open(gateway.edgePorts.sip as number);
  closers.push(() => peer.close());
  return { gw: gateway, peer };
}

async function udp(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  closers.push(() => socket.close());
  return socket;
}

describe('SIP: G.722', () => {
  it('an offer of G.722 alone is answered with G.722; its RTP decodes to ffmpeg’s samples exactly', async () => {
    const { gw, peer } = await start();
    const media = await udp();
    const callId = newCallId();
    peer.send(invite({ callId, peer, mediaPort: media.address().port, ...G722_OFFER }));
    const ok = await peer.response(callId, 200);
    peer.send(inDialog('ACK', ok, peer, 1));
    const sdp = ok.body.toString();
    expect(sdp).toMatch(/m=audio \d+ RTP\/AVP 9 101\r\n/);
    expect(sdp).toContain('a=rtpmap:9 G722/8000\r\n');
    const rtpPort = Number(/m=audio (\d+)/.exec(sdp)?.[1]);
    const packets = SPEECH.length / 160; // 20 ms each: 160 bytes, 320 samples, 160 RTP ticks
    for (let k = 0; k < packets; k++) {
      const payload = SPEECH.subarray(k * 160, k * 160 + 160);
      media.send(buildRtp(9, k, k * 160, 0x722, payload), rtpPort, '127.0.0.1');
    }
    const sid = (await gw.get('/v1/calls')).body.calls[0].callSid;
    await eventually(async () =>
      expect((await gw.call(sid)).rtp?.[0]).toMatchObject({ packets, codec: 'g722' }),
    );
    peer.send(inDialog('BYE', ok, peer, 2));
    await eventually(async () => expect((await gw.call(sid)).state).toBe('ended'));
    expect(firstDifference(gw.tap.pcm(sid, 'caller'), DECODED)).toBe(-1);
    expect((await gw.call(sid)).legs[0]).toMatchObject({ codec: 'g722', positionMs: 1800, gapFilledMs: 0 });
  });

  describe('agent mode', { timeout: 30_000 }, () => {
    let vllm: VllmRealtimeDouble;
    let llm: LlmDouble;
    beforeAll(async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demoCall('greeting')]) });
      await vllm.listen();
      llm = new LlmDouble(() => ({ text: 'Goodbye.' }));
      await llm.listen();
    });
    afterAll(async () => {
      await Promise.all([vllm.close(), llm.close()]);
    });

    it('voxline’s greeting goes out as G.722 (payload type 9, 160 bytes per 20 ms) that decodes to speech', async () => {
      const { gw, peer } = await start({
        VLLM_URL: vllm.url,
        LLM_BASE_URL: llm.url,
        LLM_API_KEY: 'sk-test',
        AGENT_GREETING: 'Hello, this is voxline.',
        SIP_ROUTES: 'support=agent',
      });
      const media = await udp();
      const heard: { pt: number; payload: Uint8Array; timestamp: number }[] = [];
      media.on('message', (data) => {
        const packet = parseRtp(data);
        if (packet)
          heard.push({
            pt: packet.payloadType,
            payload: Buffer.from(packet.payload),
            timestamp: packet.timestamp,
          });
      });
      const callId = newCallId();
      peer.send(invite({ callId, peer, mediaPort: media.address().port, user: 'support', ...G722_OFFER }));
      const ok = await peer.response(callId, 200);
      peer.send(inDialog('ACK', ok, peer, 1));
      const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
      // Latch: voxline sends once the phone's first packet shows where it is.
      media.send(buildRtp(9, 0, 0, 0x99, new Uint8Array(160)), rtpPort, '127.0.0.1');
      const decoder = new G722Decoder();
      let loudest = 0;
      await eventually(() => {
        for (const h of heard.splice(0)) {
          expect(h.pt).toBe(9);
          expect(h.payload.length).toBe(160);
          for (const s of decoder.decode(h.payload)) loudest = Math.max(loudest, Math.abs(s));
        }
        expect(loudest).toBeGreaterThan(1000);
      }, 15_000);
      peer.send(inDialog('BYE', ok, peer, 2));
      const sid = (await gw.get('/v1/calls')).body.calls[0]?.callSid;
      if (sid) expect((await gw.call(sid)).rtp?.[0]).toMatchObject({ codec: 'g722' });
    });
  });
});
