import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { demoCall, mulawAs16k, pcm16Channel } from '../../helpers/media.js';
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
import { postWebhook, readStream, SignalWireStream } from './signalwire-stream-client.js';

/*
 * SignalWire end to end: the signed answer webhook gets cXML, the stream double (written from
 * SignalWire's docs) opens the <Stream> it names with the bearer token it carries and plays the
 * demo call, the vLLM realtime double transcribes each leg, webhooks go to a real receiver, the
 * recording is fetched. The same call is also played over Twilio into the same gateway: a
 * SignalWire call must produce what a Twilio call does.
 */

const SIGNING_KEY = 'PSK_signalwire-signing-key-0123456789';
const STREAM_TOKEN = 'signalwire-stream-token-0123456789';
const call = demoCall('support-call');

let gateway: EdgeGateway;
let mediaUrl: string;

beforeAll(async () => {
  gateway = await startEdgeGateway({
    SIGNALWIRE_SIGNING_KEY: SIGNING_KEY,
    SIGNALWIRE_STREAM_TOKEN: STREAM_TOKEN,
  });
  mediaUrl = socketUrl(gateway, '/signalwire/media');
}, 30_000);
afterAll(() => gateway.close());

describe('SignalWire: the demo call', () => {
  it('signed answer → cXML <Stream> with the bearer token; PCMU, both tracks: speakers right, sample-exact, DTMF, the webhooks a Twilio call gives', async () => {
    const callSid = 'CAsw0000000000000000000000000001';
    const form = {
      CallSid: callSid,
      AccountSid: 'acct',
      From: '+14155550100',
      To: '+14155550199',
      Direction: 'inbound',
    };
    const answer = await postWebhook(`${gateway.baseUrl}/signalwire/voice`, SIGNING_KEY, form);
    expect(answer.status).toBe(200);
    const instruction = readStream(answer.body);
    expect(instruction).toMatchObject({
      url: mediaUrl,
      authBearerToken: STREAM_TOKEN,
      codec: 'PCMU@8000h',
      connect: false,
      parameters: { voxlineMode: 'transcribe', from: '+14155550100', to: '+14155550199' },
    });
    expect(answer.body).toContain('track="both_tracks"');

    const stream = await SignalWireStream.open({
      url: instruction.url,
      token: instruction.authBearerToken,
      codec: instruction.codec,
      callSid,
      tracks: ['inbound_track', 'outbound_track'],
      parameters: instruction.parameters,
    });
    stream.connected();
    stream.start();
    await stream.stream({
      inbound_track: call.caller.subarray(0, 24_000),
      outbound_track: call.agent.subarray(0, 24_000),
    });
    stream.dtmf('7');
    await stream.stream(
      { inbound_track: call.caller.subarray(24_000), outbound_track: call.agent.subarray(24_000) },
      3000,
    );
    expect((await stream.stop()).code).toBe(1000);

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe(spoken(call, 'agent'));
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'signalwire',
      streamSid: stream.streamSid,
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      endReason: 'stop',
      dtmf: [{ digit: '7', atMs: 3000 }],
      customParameters: { from: '+14155550100', to: '+14155550199' },
      malformedMessages: { total: 0 },
    });
    expect(details.legs).toMatchObject([
      {
        label: 'caller',
        track: 'inbound',
        codec: 'pcmu',
        sampleRate: 8000,
        audioSeconds: 23,
        gapFilledMs: 0,
      },
      {
        label: 'agent',
        track: 'outbound',
        codec: 'pcmu',
        sampleRate: 8000,
        audioSeconds: 23,
        gapFilledMs: 0,
      },
    ]);
    await expectBothLegsExact(gateway, callSid, {
      caller: new Upsampler8to16().pushPcm(mulawTo8k(call.caller)),
      agent: new Upsampler8to16().pushPcm(mulawTo8k(call.agent)),
    });

    const events = await gateway.ended(callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'signalwire',
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

  it('L16@16000h, the caller’s track only: sample-exact at 16 kHz, as Twilio’s caller-only call', async () => {
    const callSid = 'CAsw0000000000000000000000000002';
    const stream = await SignalWireStream.open({
      url: mediaUrl,
      token: STREAM_TOKEN,
      codec: 'L16@16000h',
      callSid,
      tracks: ['inbound_track'],
    });
    stream.connected();
    stream.start();
    const caller = mulawAs16k(call.caller);
    await stream.stream({ inbound_track: caller });
    await stream.stop();

    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    expect(said('agent')).toBe('');
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({ malformedMessages: { total: 0 }, sequenceGaps: 0 });
    expect(details.legs).toMatchObject([
      {
        label: 'caller',
        track: 'inbound',
        codec: 'l16',
        sampleRate: 16000,
        audioSeconds: 23,
        gapFilledMs: 0,
      },
    ]);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), caller)).toBe(-1);
    expect(
      firstDifference(pcm16Channel(await gateway.recording(callSid), 0).subarray(0, caller.length), caller),
    ).toBe(-1);
    const events = await gateway.ended(callSid);
    await expectSameAsTwilio(gateway, events, { agent: undefined });
  }, 60_000);

  it('a media format voxline does not take is refused with 1003; the call is not opened', async () => {
    const stream = await SignalWireStream.open({
      url: mediaUrl,
      token: STREAM_TOKEN,
      codec: 'PCMU@8000h',
      callSid: 'CAsw0000000000000000000000000003',
      tracks: ['inbound_track'],
    });
    stream.send({
      event: 'start',
      sequenceNumber: '1',
      streamSid: stream.streamSid,
      start: {
        accountSid: 'acct',
        callSid: 'CAsw0000000000000000000000000003',
        streamSid: stream.streamSid,
        tracks: ['inbound'],
        mediaFormat: { encoding: 'audio/x-l16', sampleRate: 44100, channels: 1 },
      },
    });
    const closed = await stream.closed;
    expect(closed.code).toBe(1003);
    expect(closed.reason).toMatch(/unsupported media format audio\/x-l16\/44100\/1/);
    expect(gateway.app.registry.get('CAsw0000000000000000000000000003')).toBeUndefined();
  });
});

describe('SignalWire: refused before the upgrade or the handler', () => {
  it('webhooks unsigned, wrongly signed or signed for another URL: 403; the stream with no token or a wrong one: 401, no socket; counted, nothing secret logged', async () => {
    const form = { CallSid: 'CAsw0000000000000000000000000009', From: '+1', To: '+2' };
    const voice = `${gateway.baseUrl}/signalwire/voice`;
    const statuses = [
      (await postWebhook(voice, undefined, form)).status,
      (await postWebhook(voice, 'not-the-signing-key-at-all', form)).status,
      (await postWebhook(voice, SIGNING_KEY, form, `${gateway.baseUrl}/elsewhere`)).status,
      (await postWebhook(`${gateway.baseUrl}/signalwire/status`, 'not-the-signing-key-at-all', form)).status,
    ];
    expect(statuses).toEqual([403, 403, 403, 403]);
    // A signed status callback is taken.
    expect(
      (
        await postWebhook(`${gateway.baseUrl}/signalwire/status`, SIGNING_KEY, {
          ...form,
          CallStatus: 'completed',
        })
      ).status,
    ).toBe(204);

    const upgrades: (number | undefined)[] = [];
    for (const token of [undefined, 'not-the-stream-token-at-all']) {
      const stream = await SignalWireStream.open({
        url: mediaUrl,
        token,
        codec: 'PCMU@8000h',
        callSid: 'CAsw0000000000000000000000000010',
        tracks: ['inbound_track'],
      });
      upgrades.push((await stream.closed).httpStatus);
    }
    expect(upgrades).toEqual([401, 401]);
    const metrics = (await gateway.get('/metrics')).body as string;
    expect(metrics).toMatch(/voxline_carrier_signature_rejections_total\{route="signalwire_voice"\} 3/);
    expect(metrics).toMatch(/voxline_carrier_signature_rejections_total\{route="signalwire_status"\} 1/);
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="signalwire",reason="secret_missing"\} 1/,
    );
    expect(metrics).toMatch(/voxline_ingress_refused_total\{ingress="signalwire",reason="secret_wrong"\} 1/);
    const logs = JSON.stringify(gateway.logs);
    expect(logs).not.toContain(SIGNING_KEY);
    expect(logs).not.toContain(STREAM_TOKEN);
  });
});
