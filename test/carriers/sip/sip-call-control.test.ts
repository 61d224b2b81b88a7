import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildRtp, parseRtp } from '../../../src/carriers/sip/rtp.js';
import { type ChatRequest, LlmDouble, type ScriptedReply } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import {
  inDialog,
  invite,
  newCallId,
  type PeerHeaders,
  SipPeer,
  type SipResponse,
} from '../../doubles/sip-peer.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { SECRET, TestReceiver } from '../../helpers/webhooks.js';

/*
 * The agent's transfer_call on a SIP call: a blind transfer (RFC 3515, RFC 5589 §6). voxline sends
 * REFER in the dialog; the peer (a PBX or phone, here a hand-driven UDP endpoint) answers 202 and
 * reports how calling the target goes in NOTIFYs with message/sipfrag bodies. A 2xx sipfrag means
 * the target answered: voxline hangs up its side. A failure leaves the caller with the agent.
 * And send_dtmf: the agent presses keys as RFC 4733 telephone-events on the call's RTP.
 */
const demo = demoCall('greeting');
let vllm: VllmRealtimeDouble;
let llm: LlmDouble;
let receiver: TestReceiver;
let gateway: Gateway | undefined;
const closers: (() => void)[] = [];

function script(request: ChatRequest): ScriptedReply {
  if (request.messages.at(-1)?.role === 'tool') return { text: 'Done.' };
  const last = String(request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
  if (last.includes('pressed the key 1'))
    return {
      text: 'Connecting you.',
      toolCalls: [{ name: 'transfer_call', arguments: { destination: 'sales' } }],
    };
  if (last.includes('pressed the key 2'))
    return {
      text: 'Connecting you.',
      toolCalls: [{ name: 'transfer_call', arguments: { destination: 'desk' } }],
    };
  if (last.includes('pressed the key 9'))
    return { text: '', toolCalls: [{ name: 'send_dtmf', arguments: { digits: '12#' } }] };
  return { text: 'Still here.' };
}

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demo]) });
  await vllm.listen();
  llm = new LlmDouble(script);
  await llm.listen();
  receiver = new TestReceiver();
  await receiver.listen();
});

afterAll(async () => {
  await Promise.all([vllm.close(), llm.close(), receiver.close()]);
});

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await gateway?.close();
  gateway = undefined;
});

async function start(env: Record<string, string> = {}): Promise<SipPeer> {
  gateway = await startGateway({
    VLLM_URL: vllm.url,
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: 'sk-test',
    AGENT_GREETING: 'none',
    AGENT_TRANSFER_TARGETS: 'sales=+15550001111,desk=sip:desk@pbx.example.com',
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    SIP_PORT: '0',
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: '44000-44998',
    SIP_ROUTES: 'support=agent',
    SHUTDOWN_DRAIN_MS: '500',
    ...env,
  });
  const peer = await SipPeer.open(gateway.edgePorts.sip as number);
  closers.push(() => peer.close());
  return peer;
}

/** An answered agent call whose media has started, and a key press that asks for a transfer. */
async function callAndPress(peer: SipPeer, digit: string) {
  const media: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
  closers.push(() => media.close());
  const callId = newCallId();
  peer.send(invite({ callId, peer, user: 'support', mediaPort: media.address().port }));
  const ok = await peer.response(callId, 200);
  peer.send(inDialog('ACK', ok, peer, 1));
  const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
  // A phone's RTP runs all call long (silence here): the call is live, not idle.
  const silence = new Uint8Array(160).fill(0xff);
  let seq = 0;
  const rtp = setInterval(() => {
    seq++;
    media.send(buildRtp(0, seq, seq * 160, 0x99, silence), rtpPort, '127.0.0.1');
  }, 20);
  closers.unshift(() => clearInterval(rtp));
  const body = `Signal=${digit}\r\nDuration=160\r\n`;
  peer.send(
    inDialog('INFO', ok, peer, 2).replace(
      'Content-Length: 0\r\n\r\n',
      `Content-Type: application/dtmf-relay\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ),
  );
  await eventually(() =>
    expect(peer.responsesTo(callId).find((r) => r.headers.get('cseq') === '2 INFO')?.status).toBe(200),
  );
  const sid = (await gateway!.get('/v1/calls')).body.calls[0].callSid as string;
  return { ok, callId, sid, media };
}

/** The peer's answer to a request voxline sent it. */
function answer(peer: SipPeer, h: PeerHeaders, status: number, reason: string): void {
  peer.send(
    [
      `SIP/2.0 ${status} ${reason}`,
      ...h.all('via').map((v) => `Via: ${v}`),
      `From: ${h.get('from')}`,
      `To: ${h.get('to')}`,
      `Call-ID: ${h.get('call-id')}`,
      `CSeq: ${h.get('cseq')}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** A NOTIFY in the call's dialog with a sipfrag body: how calling the transfer target goes. */
function notify(peer: SipPeer, ok: SipResponse, cseq: number, frag: string, state: string): string {
  const base = inDialog('NOTIFY', ok, peer, cseq);
  return base.replace(
    'Content-Length: 0\r\n\r\n',
    `Event: refer\r\nSubscription-State: ${state}\r\nContent-Type: message/sipfrag;version=2.0\r\nContent-Length: ${frag.length}\r\n\r\n${frag}`,
  );
}

const referOf = (peer: SipPeer) => peer.requests.find((r) => r.method === 'REFER');

async function agentAction(sid: string) {
  return eventually(() => {
    const action = receiver.events.find((e) => e.callSid === sid && e.type === 'agent.action');
    expect(action).toBeDefined();
    return action!.data;
  }, 10_000);
}

describe('SIP REFER: the agent transfers a SIP call', { timeout: 40_000 }, () => {
  it("a number goes to the far end's host; 202, NOTIFY 100 then 200: done, and voxline hangs up with a BYE", async () => {
    const peer = await start();
    const { ok, callId, sid } = await callAndPress(peer, '1');
    const refer = await eventually(() => {
      const r = referOf(peer);
      expect(r).toBeDefined();
      return r!;
    }, 20_000);
    expect(refer.uri).toBe(`sip:peer@127.0.0.1:${peer.port}`);
    expect(refer.headers.get('refer-to')).toBe(`<sip:+15550001111@127.0.0.1:${peer.port};user=phone>`);
    expect(refer.headers.get('referred-by')).toMatch(/^<sip:support@127\.0\.0\.1>$/);
    expect(refer.headers.get('contact')).toMatch(/^<sip:voxline@127\.0\.0\.1:\d+>$/);
    expect(refer.headers.get('call-id')).toBe(callId);
    expect(refer.headers.get('cseq')).toMatch(/^\d+ REFER$/);
    answer(peer, refer.headers, 202, 'Accepted');
    peer.send(notify(peer, ok, 3, 'SIP/2.0 100 Trying\r\n', 'active;expires=60'));
    await eventually(() =>
      expect(
        peer.responsesTo(callId).filter((r) => r.status === 200 && r.headers.get('cseq') === '3 NOTIFY'),
      ).toHaveLength(1),
    );
    expect(peer.requests.some((r) => r.method === 'BYE')).toBe(false); // the target is still ringing
    peer.send(notify(peer, ok, 4, 'SIP/2.0 200 OK\r\n', 'terminated;reason=noresource'));
    await eventually(() => expect(peer.requests.map((r) => r.method)).toContain('BYE'), 5_000);
    expect(peer.responsesTo(callId).find((r) => r.headers.get('cseq') === '4 NOTIFY')?.status).toBe(200);
    expect(await agentAction(sid)).toMatchObject({
      action: 'transfer_call',
      destination: 'sales',
      target: '+15550001111',
      ok: true,
    });
    await eventually(async () => expect((await gateway!.call(sid)).endReason).toBe('agent_transfer_call'));
  });

  it('the target is busy (NOTIFY 486): the caller stays with the agent, who says so; no BYE', async () => {
    const peer = await start();
    const { ok, callId, sid } = await callAndPress(peer, '2');
    const refer = await eventually(() => {
      const r = referOf(peer);
      expect(r).toBeDefined();
      return r!;
    }, 20_000);
    expect(refer.headers.get('refer-to')).toBe('<sip:desk@pbx.example.com>');
    answer(peer, refer.headers, 202, 'Accepted');
    peer.send(notify(peer, ok, 3, 'SIP/2.0 486 Busy Here\r\n', 'terminated;reason=noresource'));
    expect(await agentAction(sid)).toMatchObject({ action: 'transfer_call', destination: 'desk', ok: false });
    const action = await agentAction(sid);
    expect(action.error).toContain('calling the transfer target failed: 486 Busy Here');
    // The conversation goes on: the model's next turn (another key) carries the note of the failure.
    const body = 'Signal=3\r\nDuration=160\r\n';
    peer.send(
      inDialog('INFO', ok, peer, 5).replace(
        'Content-Length: 0\r\n\r\n',
        `Content-Type: application/dtmf-relay\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      ),
    );
    await eventually(() => {
      const said = (llm.requests.at(-1)?.messages ?? [])
        .filter((m) => m.role === 'user')
        .map((m) => m.content);
      expect(said.slice(-2)).toEqual([
        '[System note: the transfer failed. The caller is still on the line.]',
        '[The caller pressed the key 3 on the phone keypad.]',
      ]);
    }, 10_000);
    // A NOTIFY for the finished subscription is answered 481; the call goes on.
    peer.send(notify(peer, ok, 4, 'SIP/2.0 486 Busy Here\r\n', 'terminated'));
    await eventually(() =>
      expect(peer.responsesTo(callId).find((r) => r.headers.get('cseq') === '4 NOTIFY')?.status).toBe(481),
    );
    expect(peer.requests.some((r) => r.method === 'BYE')).toBe(false);
    expect((await gateway!.call(sid)).state).not.toBe('ended');
  });

  it('a REFER the far end refuses (603) fails the transfer with its status', async () => {
    const peer = await start();
    const { sid } = await callAndPress(peer, '1');
    const refer = await eventually(() => {
      const r = referOf(peer);
      expect(r).toBeDefined();
      return r!;
    }, 20_000);
    answer(peer, refer.headers, 603, 'Decline');
    const action = await agentAction(sid);
    expect(action).toMatchObject({ ok: false });
    expect(action.error).toContain('the far end refused the REFER: 603 Decline');
    expect(peer.requests.some((r) => r.method === 'BYE')).toBe(false);
  });
});

describe('send_dtmf: the agent presses keys on a SIP call (RFC 4733)', { timeout: 40_000 }, () => {
  it('each key: 5 tone packets then 3 end packets on one timestamp, M bit on the first, 60 ms apart', async () => {
    const peer = await start({ AGENT_DTMF_TOOL: 'true' });
    const { media } = await callAndPress(peer, '9');
    const events: { seq: number; ts: number; marker: boolean; payload: Buffer }[] = [];
    media.on('message', (data) => {
      const packet = parseRtp(data);
      if (packet?.payloadType === 101)
        events.push({
          seq: packet.sequence,
          ts: packet.timestamp,
          marker: packet.marker,
          payload: Buffer.from(packet.payload),
        });
    });
    await eventually(() => expect(events).toHaveLength(24), 20_000);
    const byKey = [events.slice(0, 8), events.slice(8, 16), events.slice(16, 24)];
    expect(byKey.map((k) => k[0].payload[0])).toEqual([1, 2, 11]); // 1, 2, #
    for (const key of byKey) {
      expect(new Set(key.map((p) => p.ts)).size).toBe(1);
      expect(key.map((p) => p.marker)).toEqual([true, false, false, false, false, false, false, false]);
      expect(key.map((p) => p.payload.readUInt16BE(2))).toEqual([160, 320, 480, 640, 800, 800, 800, 800]);
      expect(key.map((p) => (p.payload[1] & 0x80) !== 0)).toEqual([
        false,
        false,
        false,
        false,
        false,
        true,
        true,
        true,
      ]);
      expect(key.every((p) => (p.payload[1] & 0x3f) === 10)).toBe(true);
    }
    // The stream's clock runs under the keys: 8 packets and a 60 ms gap (3 more) from one key to the next.
    expect(byKey[1][0].ts - byKey[0][0].ts).toBe(11 * 160);
    expect(byKey[2][0].ts - byKey[1][0].ts).toBe(11 * 160);
    const turns = await eventually(() => {
      const last = llm.requests.at(-1)?.messages.at(-1);
      expect(last?.role).toBe('tool');
      return last;
    });
    expect(turns?.content).toBe('Pressed the keys 12#.');
  });
});
