import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { eventually } from '../../helpers/gateway.js';
import { demoCall, mulawAs16k } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { schemaValidator } from '../../helpers/webhooks.js';
import {
  type EdgeGateway,
  expectBothLegsExact,
  expectSameAsTwilio,
  mulawTo8k,
  socketUrl,
  spoken,
  startEdgeGateway,
} from '../stream-edge-harness.js';
import { JambonzListen } from './jambonz-listen-client.js';

/*
 * jambonz listen end to end: the listen double (written from jambonz's docs) streams the demo call
 * into a real gateway, the vLLM realtime double transcribes each leg, webhooks go to a real
 * receiver, the recording is fetched. The stereo call is also played over Twilio into the same
 * gateway: a listen must produce what a Twilio call does.
 */

const JZ_SECRET = 'jambonz-shared-secret-0123456789';
const call = demoCall('support-call');

let gateway: EdgeGateway;
let wsUrl: string;

beforeAll(async () => {
  gateway = await startEdgeGateway({ JAMBONZ_STREAM_SECRET: JZ_SECRET, JAMBONZ_USERNAME: 'jambonz' });
  wsUrl = socketUrl(gateway, '/jambonz/listen');
}, 30_000);
afterAll(() => gateway.close());

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

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe(spoken(call, 'agent'));
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
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
    await expectBothLegsExact(gateway, callSid, {
      caller: new Upsampler8to16().pushPcm(caller),
      agent: new Upsampler8to16().pushPcm(callee),
    });

    const events = await gateway.ended(callSid);
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

    const twilio = await expectSameAsTwilio(gateway, events, { dtmf: [{ atMs: 3000, digit: '7' }] });
    const twilioSaid = await gateway.transcriptOf(twilio.callSid);
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
    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe('');
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details.legs).toMatchObject([
      { label: 'caller', track: 'inbound', sampleRate: 16000, audioSeconds: 23 },
    ]);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), caller)).toBe(-1);
    const events = await gateway.ended(callSid);
    await expectSameAsTwilio(gateway, events, { agent: undefined });
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
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
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
