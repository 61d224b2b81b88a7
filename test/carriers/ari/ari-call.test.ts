import { afterEach, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, FrameTap, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';
import { AriDouble, type ExternalMedia, ulawToLinear } from './ari-double.js';

/*
 * Asterisk ARI externalMedia end to end: the ARI double (HTTP + events WebSocket + a UDP socket
 * per externalMedia channel) hands a caller's channel to the Stasis app; voxline bridges it,
 * creates externalMedia, reads UNICASTRTP_LOCAL_ADDRESS/PORT, and transcribes the RTP it gets.
 */

const greeting = demoCall('greeting');
let gateway: Gateway | undefined;
let ari: AriDouble | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await ari?.close();
  await vllm?.close();
  await receiver?.close();
  gateway = ari = vllm = receiver = undefined;
});

async function start(
  env: Record<string, string> = {},
  tap?: FrameTap,
): Promise<{ gw: Gateway; ari: AriDouble }> {
  ari = new AriDouble();
  const url = await ari.listen();
  gateway = await startGateway(
    {
      ARI_URL: url,
      ARI_USERNAME: ari.username,
      ARI_PASSWORD: ari.password,
      ARI_RTP_HOST: '127.0.0.1',
      ...env,
    },
    tap ? [tap.factory] : [],
  );
  const double = ari;
  await eventually(() => expect(double.subscribers).toBe(1));
  return { gw: gateway, ari: double };
}

async function mediaOf(double: AriDouble, callerId: string, spy?: string): Promise<ExternalMedia> {
  return eventually(() => {
    const m = double.mediaFor(callerId, spy);
    expect(m).toBeDefined();
    return m as ExternalMedia;
  });
}

async function liveCall(gw: Gateway, callSid: string): Promise<void> {
  await eventually(async () => expect((await gw.get(`/v1/calls/${callSid}`)).body.state).toBe('live'));
}

const words = (utterances: { speaker: string; text: string }[], speaker: string) =>
  utterances
    .filter((u) => u.speaker === speaker)
    .map((u) => u.text)
    .join(' ');

describe('Asterisk ARI externalMedia', () => {
  it('mixed: StasisStart, RTP μ-law and a key press give a transcript, exact audio and the usual webhooks', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    receiver = new TestReceiver();
    const tap = new FrameTap();
    const { gw, ari: double } = await start(
      { VLLM_URL: vllm.url, WEBHOOK_URL: await receiver.listen(), WEBHOOK_SECRET: SECRET },
      tap,
    );
    const callSid = '1760000000.201';
    double.stasisStart(callSid);
    const media = await mediaOf(double, callSid);
    await liveCall(gw, callSid);
    expect(media.format).toBe('ulaw');
    await double.sendRtp(media, greeting.caller.subarray(0, 8000));
    await eventually(async () =>
      expect((await gw.get(`/v1/calls/${callSid}`)).body.legs[0].audioSeconds).toBe(1),
    );
    double.channelEvent('ChannelDtmfReceived', callSid, { digit: '5', duration_ms: 120 });
    await eventually(async () => expect((await gw.get(`/v1/calls/${callSid}`)).body.dtmf).toHaveLength(1));
    const rest = greeting.caller.subarray(8000);
    // The rest from a second packetizer run: timestamps carry on where the first 8000 stopped.
    await sendContinuing(double, media, rest, 8000);
    await eventually(async () =>
      expect((await gw.get(`/v1/calls/${callSid}`)).body.legs[0].audioSeconds).toBe(
        greeting.caller.length / 8000,
      ),
    );
    double.channelEvent('StasisEnd', callSid);
    double.channelEvent('ChannelDestroyed', callSid, { cause: 16, cause_txt: 'Normal Clearing' });

    const transcript = await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 15_000);
    expect(words(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');
    const { body: snapshot } = await gw.get(`/v1/calls/${callSid}`);
    expect(snapshot).toMatchObject({
      ingress: 'ari',
      mode: 'transcribe',
      state: 'ended',
      endReason: 'hangup',
      dtmf: [{ digit: '5', atMs: 1000 }],
      legs: [{ label: 'caller', track: 'inbound', codec: 'pcmu', sampleRate: 8000 }],
    });
    const expected = new Upsampler8to16().pushPcm(ulawToLinear(greeting.caller));
    expect(firstDifference(tap.pcm(callSid, 'caller'), expected)).toBe(-1);

    const events = await eventually(() => {
      expect(receiver?.events.map((e) => e.type)).toContain('call.ended');
      return receiver?.events ?? [];
    }, 10_000);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['call.started', 'dtmf', 'transcript.final', 'call.ended']),
    );
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'ari',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
    expect(events.find((e) => e.type === 'dtmf')?.data).toEqual({
      digit: '5',
      speaker: 'caller',
      atMs: 1000,
    });

    // What voxline asked of Asterisk, and that it cleaned up after itself.
    const posts = double.requests.filter((r) => r.method === 'POST').map((r) => r.path);
    expect(posts).toEqual([
      `/ari/channels/${callSid}/answer`,
      '/ari/bridges',
      '/ari/channels/externalMedia',
      expect.stringMatching(/^\/ari\/bridges\/voxline-b-.*\/addChannel$/),
    ]);
    const em = double.requests.find((r) => r.path === '/ari/channels/externalMedia')?.query;
    expect(em).toMatchObject({
      app: 'voxline',
      encapsulation: 'rtp',
      transport: 'udp',
      format: 'ulaw',
      external_host: `127.0.0.1:${gw.edgePorts.ari}`,
    });
    await eventually(() => expect(double.deleted).toEqual(expect.arrayContaining([media.id])));
    expect(double.deleted).not.toContain(callSid); // Asterisk hung it up, not voxline
    const metrics = (await gw.get('/metrics')).body as string;
    expect(metrics).toMatch(/voxline_ingress_calls_total\{ingress="ari"\} 1/);
  }, 30_000);

  it('separate: snoop spy=in and spy=out, one externalMedia each, are the caller and the agent', async () => {
    const tap = new FrameTap();
    const { gw, ari: double } = await start({ ARI_LEGS: 'separate', ASR_ENGINE: 'none' }, tap);
    double.channelvarsInReply = false; // read with GET /channels/{id}/variable instead
    const callSid = '1760000000.202';
    double.stasisStart(callSid);
    const spyIn = await mediaOf(double, callSid, 'in');
    const spyOut = await mediaOf(double, callSid, 'out');
    await liveCall(gw, callSid);
    const a = greeting.caller.subarray(0, 16_000);
    const b = greeting.agent.subarray(0, 16_000);
    await Promise.all([double.sendRtp(spyIn, a, { ssrc: 1 }), double.sendRtp(spyOut, b, { ssrc: 2 })]);
    await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}`);
      expect(body.legs.map((l: { audioSeconds: number }) => l.audioSeconds)).toEqual([2, 2]);
    });
    double.channelEvent('StasisEnd', callSid);
    await eventually(() => expect(tap.legs.get(`${callSid}/agent`)?.ended).toBe(true));
    const { body } = await gw.get(`/v1/calls/${callSid}`);
    expect(body.legs).toMatchObject([
      { label: 'caller', track: 'inbound' },
      { label: 'agent', track: 'outbound' },
    ]);
    const variables = double.requests
      .filter((r) => r.path.endsWith('/variable'))
      .map((r) => r.query.variable);
    expect(variables).toEqual([
      'UNICASTRTP_LOCAL_ADDRESS',
      'UNICASTRTP_LOCAL_PORT',
      'UNICASTRTP_LOCAL_ADDRESS',
      'UNICASTRTP_LOCAL_PORT',
    ]);
    const snoops = double.requests.filter((r) => r.path.endsWith('/snoop')).map((r) => r.query.spy);
    expect(snoops).toEqual(['in', 'out']);
    expect(firstDifference(tap.pcm(callSid, 'caller'), new Upsampler8to16().pushPcm(ulawToLinear(a)))).toBe(
      -1,
    );
    expect(firstDifference(tap.pcm(callSid, 'agent'), new Upsampler8to16().pushPcm(ulawToLinear(b)))).toBe(
      -1,
    );
    await eventually(() => expect(double.deleted).toHaveLength(6)); // 2 snoops, 2 media, 2 bridges
  }, 30_000);

  it('voxline ends the call (media idle): every channel and bridge it made is deleted, and the caller hung up', async () => {
    const { gw, ari: double } = await start({ ASR_ENGINE: 'none', MEDIA_IDLE_TIMEOUT_MS: '300' });
    const callSid = '1760000000.203';
    double.stasisStart(callSid);
    const media = await mediaOf(double, callSid);
    await double.sendRtp(media, greeting.caller.subarray(0, 1600));
    await eventually(
      async () => expect((await gw.get(`/v1/calls/${callSid}`)).body.state).toBe('ended'),
      5000,
    );
    await eventually(() => expect(double.deleted).toEqual(expect.arrayContaining([media.id, callSid])));
    expect(double.deleted.some((id) => id.startsWith('voxline-b-'))).toBe(true);
  });

  it('wrong ARI credentials: a clear error in the log, no crash, HTTP still served', async () => {
    ari = new AriDouble();
    const url = await ari.listen();
    gateway = await startGateway({
      ARI_URL: url,
      ARI_USERNAME: 'voxline',
      ARI_PASSWORD: 'wrong',
      ASR_ENGINE: 'none',
    });
    const gw = gateway;
    await eventually(() =>
      expect(gw.logs.map((l) => l.msg)).toContain(
        'ARI events refused (401): ARI_USERNAME/ARI_PASSWORD refused',
      ),
    );
    expect(JSON.stringify(gw.logs)).not.toContain('wrong');
    expect((await gw.get('/healthz')).status).toBe(200);
  });
});

/** The second part of a stream: sequence and timestamp carry on from the first `offset` samples. */
async function sendContinuing(
  double: AriDouble,
  media: ExternalMedia,
  payload: Uint8Array,
  offset: number,
): Promise<void> {
  for (let at = 0; at < payload.length; at += 160) {
    const chunk = payload.subarray(at, at + 160);
    const packet = Buffer.alloc(12 + chunk.length);
    packet[0] = 0x80;
    packet.writeUInt16BE((1000 + (offset + at) / 160) & 0xffff, 2);
    packet.writeUInt32BE(50_000 + offset + at, 4);
    packet.writeUInt32BE(0x1234abcd, 8);
    packet.set(chunk, 12);
    await double.sendRaw(media, packet);
  }
}
