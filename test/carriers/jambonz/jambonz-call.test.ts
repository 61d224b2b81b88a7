import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel, playDemo } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';
import { mulawTo8k } from '../signalwire/signalwire-stream-client.js';
import { JambonzListen } from './jambonz-listen-client.js';

/*
 * jambonz listen end to end: the listen double (written from jambonz's docs) streams the demo call
 * into a real gateway, the vLLM realtime double transcribes each leg, webhooks go to a real
 * receiver, the recording is fetched. The stereo call is also played over Twilio into the same
 * gateway: a listen must produce what a Twilio call does.
 */

const JZ_SECRET = 'jambonz-shared-secret-0123456789';
const ADMIN = 'jambonz-admin-token-0123456789';
const AUTH = { authorization: `Bearer ${ADMIN}` };
const call = demoCall('support-call');

let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;
let wsUrl: string;

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call, demoCall('greeting')]) });
  await vllm.listen();
  receiver = new TestReceiver();
  gateway = await startGateway({
    JAMBONZ_STREAM_SECRET: JZ_SECRET,
    JAMBONZ_USERNAME: 'jambonz',
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    RECORDING_FORMAT: 'pcm16',
    ADMIN_TOKEN: ADMIN,
  });
  wsUrl = `${gateway.baseUrl.replace(/^http/, 'ws')}/jambonz/listen`;
}, 30_000);
afterAll(async () => {
  await gateway.close();
  await Promise.all([vllm.close(), receiver.close()]);
});

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON of many shapes; assertions check it.
async function v1(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.baseUrl}${path}`, { headers: AUTH });
  return { status: response.status, body: await response.json() };
}

function eventsOf(callSid: string): Event[] {
  return receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
}

async function ended(callSid: string): Promise<Event[]> {
  return eventually(() => {
    const events = eventsOf(callSid);
    expect(events.map((e) => e.type)).toContain('call.ended');
    expect(events.map((e) => e.type)).toContain('recording.ready');
    return events;
  }, 20_000);
}

async function recording(callSid: string): Promise<Buffer> {
  return eventually(async () => {
    const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, { headers: AUTH });
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  }, 20_000);
}

async function transcriptOf(callSid: string) {
  const { body } = await eventually(async () => {
    const result = await v1(`/v1/calls/${callSid}/transcript`);
    expect(result.body.complete).toBe(true);
    return result;
  }, 20_000);
  return (speaker: string) =>
    body.utterances
      .filter((u: { speaker: string; text: string }) => u.speaker === speaker && u.text !== '')
      .map((u: { text: string }) => u.text)
      .join(' ');
}

const spoken = (leg: 'caller' | 'agent') =>
  call.segments
    .filter((s) => s.leg === leg)
    .map((s) => s.text)
    .join(' ');

const shape = (list: Event[]) => list.map((e) => e.type).filter((t) => t !== 'transcript.final');

/** The attributes jambonz sends on every webhook, as the first frame carries them. */
function callInfo(callSid: string) {
  return {
    callSid,
    callId: `${callSid}@10.0.0.1`,
    direction: 'inbound',
    from: '+14155550100',
    to: '+14155550199',
    callerName: 'Jane',
    accountSid: '9351f46a-678c-43f5-b8a6-d4eb58d131af',
    applicationSid: 'e7fb0e4c-7a47-4c4f-a4d8-8f5a0b5c2e11',
    callStatus: 'in-progress',
    sipStatus: 200,
    customerData: { crm: 'x' },
  };
}

describe('jambonz listen: the demo call', () => {
  it('stereo 8 kHz, wsAuth: both legs transcribed with speakers right, sample-exact, DTMF, the webhooks a Twilio call gives', async () => {
    const callSid = '7f4a9c2e-1d3b-4e5f-8a6b-0c1d2e3f4a01';
    const listen = await JambonzListen.open({
      url: wsUrl,
      sampleRate: 8000,
      mixType: 'stereo',
      wsAuth: { username: 'jambonz', password: JZ_SECRET },
      metadata: { ...callInfo(callSid), queue: 'support' }, // the verb's metadata, merged in
    });
    expect(listen.socket.protocol).toBe('audio.jambonz.org'); // the sub-protocol offered, echoed
    const caller = mulawTo8k(call.caller);
    const callee = mulawTo8k(call.agent);
    await listen.stream([caller.subarray(0, 24_000), callee.subarray(0, 24_000)]);
    listen.dtmf('7');
    await listen.stream([caller.subarray(24_000), callee.subarray(24_000)]);
    expect((await listen.stop()).code).toBe(1000);

    const said = await transcriptOf(callSid);
    expect(said('caller')).toBe(spoken('caller'));
    expect(said('agent')).toBe(spoken('agent'));
    const { body: details } = await v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'jambonz',
      streamSid: callSid,
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      endReason: 'hangup',
      dtmf: [{ digit: '7', atMs: 3000 }],
      customParameters: {
        from: '+14155550100',
        to: '+14155550199',
        direction: 'inbound',
        callerName: 'Jane',
        queue: 'support',
      },
      malformedMessages: { total: 0 },
    });
    expect(details.customParameters.customerData).toBeUndefined(); // objects are not kept
    expect(details.legs).toMatchObject([
      { label: 'caller', track: 'inbound', codec: 'l16', sampleRate: 8000, audioSeconds: 23, gapFilledMs: 0 },
      { label: 'agent', track: 'outbound', codec: 'l16', sampleRate: 8000, audioSeconds: 23, gapFilledMs: 0 },
    ]);
    const wav = await recording(callSid);
    for (const [channel, leg, audio] of [
      [0, 'caller', caller],
      [1, 'agent', callee],
    ] as const) {
      const expected = new Upsampler8to16().pushPcm(audio);
      expect(firstDifference(gateway.tap.pcm(callSid, leg), expected)).toBe(-1);
      expect(firstDifference(pcm16Channel(wav, channel), expected)).toBe(-1);
    }

    const events = await ended(callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'jambonz',
      legs: [
        { speaker: 'caller', track: 'inbound' },
        { speaker: 'agent', track: 'outbound' },
      ],
    });
    expect(events.find((e) => e.type === 'dtmf')?.data).toEqual({
      digit: '7',
      speaker: 'caller',
      atMs: 3000,
    });

    const twilio = await playDemo(gateway, 'support-call', { dtmf: [{ atMs: 3000, digit: '7' }] });
    const twilioEvents = await ended(twilio.callSid);
    expect(shape(events)).toEqual(shape(twilioEvents));
    const twilioSaid = await transcriptOf(twilio.callSid);
    for (const speaker of ['caller', 'agent']) expect(said(speaker)).toBe(twilioSaid(speaker));
  }, 60_000);

  it('mono 16 kHz, Bearer: the caller’s leg only, sample-exact, as Twilio’s caller-only call', async () => {
    const callSid = '7f4a9c2e-1d3b-4e5f-8a6b-0c1d2e3f4a02';
    const listen = await JambonzListen.open({
      url: wsUrl,
      sampleRate: 16000,
      mixType: 'mono',
      headers: { Authorization: `Bearer ${JZ_SECRET}` },
      metadata: callInfo(callSid),
    });
    const caller = mulawAs16k(call.caller);
    await listen.stream([caller]);
    await listen.stop();
    const said = await transcriptOf(callSid);
    expect(said('caller')).toBe(spoken('caller'));
    expect(said('agent')).toBe('');
    const { body: details } = await v1(`/v1/calls/${callSid}`);
    expect(details.legs).toMatchObject([
      { label: 'caller', track: 'inbound', sampleRate: 16000, audioSeconds: 23 },
    ]);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), caller)).toBe(-1);
    const events = await ended(callSid);
    const twilio = await playDemo(gateway, 'support-call', { agent: undefined });
    expect(shape(events)).toEqual(shape(await ended(twilio.callSid)));
  }, 60_000);

  it('mixed at 24 kHz, ?token=: one leg labelled mixed, every sample kept', async () => {
    const callSid = '7f4a9c2e-1d3b-4e5f-8a6b-0c1d2e3f4a03';
    const listen = await JambonzListen.open({
      url: `${wsUrl}?token=${JZ_SECRET}`,
      sampleRate: 24000,
      mixType: 'mixed',
      metadata: callInfo(callSid),
    });
    expect(await listen.stream([new Int16Array(24000 * 2).fill(1000)])).toBe(100);
    listen.sendRaw('{"type":"playDone","data":{}}', false); // jambonz's own text: not malformed
    await listen.stop();
    await eventually(() => expect(gateway.tap.legs.get(`${callSid}/mixed`)?.ended).toBe(true));
    const { body: details } = await v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'jambonz',
      malformedMessages: { total: 0 },
      legs: [{ label: 'mixed', track: 'mixed', codec: 'l16', sampleRate: 24000, audioSeconds: 2 }],
    });
  });

  it('metadata that cannot open a call (not JSON, a rate jambonz has not, audio first): closed, no call', async () => {
    const cases: [string | undefined, Buffer | undefined, number, RegExp][] = [
      ['not json at all', undefined, 1003, /not the listen metadata/],
      [
        JSON.stringify({ callSid: 'jz-bad-rate', sampleRate: 11025, mixType: 'mono' }),
        undefined,
        1003,
        /sampleRate 11025/,
      ],
      [undefined, Buffer.alloc(320), 1008, /audio before the listen metadata/],
    ];
    for (const [metadata, audio, code, reason] of cases) {
      const listen = await JambonzListen.open({
        url: `${wsUrl}?token=${JZ_SECRET}`,
        sampleRate: 8000,
        mixType: 'mono',
        metadata,
      });
      if (audio) listen.sendRaw(audio, true);
      const closed = await listen.closed;
      expect(closed.code).toBe(code);
      expect(closed.reason).toMatch(reason);
    }
    expect(gateway.app.registry.get('jz-bad-rate')).toBeUndefined();
  });
});

describe('jambonz listen: refused before the upgrade', () => {
  it('no secret, a wrong one (each way), a wrong Basic username, a bad ?mode=: 401 or 400, no socket, counted', async () => {
    const statuses: (number | undefined)[] = [];
    for (const options of [
      {},
      { headers: { Authorization: 'Bearer not-the-secret-at-all' } },
      { wsAuth: { username: 'jambonz', password: 'not-the-secret-at-all' } },
      { wsAuth: { username: 'someone-else', password: JZ_SECRET } },
      { url: `${wsUrl}?token=not-the-secret-at-all` },
      { url: `${wsUrl}?token=${JZ_SECRET}&mode=shout` },
    ]) {
      const listen = await JambonzListen.open({ url: wsUrl, sampleRate: 8000, mixType: 'mono', ...options });
      statuses.push((await listen.closed).httpStatus);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 400]);
    const metrics = (await gateway.get('/metrics')).body as string;
    expect(metrics).toMatch(/voxline_ingress_refused_total\{ingress="jambonz",reason="secret_missing"\} 1/);
    expect(metrics).toMatch(/voxline_ingress_refused_total\{ingress="jambonz",reason="secret_wrong"\} 4/);
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="jambonz",reason="bad_stream_parameters"\} 1/,
    );
    expect(JSON.stringify(gateway.logs)).not.toContain(JZ_SECRET);
  });
});
