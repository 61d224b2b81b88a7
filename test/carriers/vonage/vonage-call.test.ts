import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { postEvent, requestAnswer, VonageSocket, websocketEndpoint } from '../../doubles/vonage-client.js';
import { eventually } from '../../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { schemaValidator } from '../../helpers/webhooks.js';
import { type EdgeGateway, mulawTo8k, startEdgeGateway } from '../stream-edge-harness.js';

/*
 * Vonage calls end to end: the answer webhook signed as Vonage signs it, the NCCO voxline returns,
 * and its WebSocket driven by a double written from Vonage's docs, against a real gateway, the
 * vLLM realtime double and a real webhook receiver.
 */

const VONAGE_SECRET = 'vonage-signature-secret-0123456789';
const call = demoCall('support-call');
const greeting = demoCall('greeting');

const words = (utterances: { speaker: string; text: string }[], speaker: string) =>
  utterances
    .filter((u) => u.speaker === speaker)
    .map((u) => u.text)
    .join(' ');

describe('Vonage: a call connected to voxline’s WebSocket', () => {
  let gateway: EdgeGateway;

  beforeAll(async () => {
    // No admin token: the test reads the API (and the recording) as an open deployment serves it.
    gateway = await startEdgeGateway({ VONAGE_SIGNATURE_SECRET: VONAGE_SECRET, ADMIN_TOKEN: undefined });
  });
  afterAll(() => gateway.close());

  it('answers with an NCCO connecting the call to a signed wss:// URL at 16 kHz, carrying the call in its headers', async () => {
    const { status, ncco } = await requestAnswer(gateway.baseUrl, VONAGE_SECRET, {
      uuid: 'aaaaaaaa-0000-4000-8000-000000000001',
      from: '447700900123',
    });
    expect(status).toBe(200);
    expect(ncco).toEqual([
      {
        action: 'connect',
        eventUrl: [`${gateway.baseUrl}/vonage/event`],
        endpoint: [
          {
            type: 'websocket',
            uri: expect.stringMatching(
              /^ws:\/\/127\.0\.0\.1:\d+\/vonage\/media\?call=aaaaaaaa-0000-4000-8000-000000000001&mode=transcribe&exp=\d+&token=[\w-]{43}$/,
            ),
            'content-type': 'audio/l16;rate=16000',
            headers: {
              voxlineCall: 'aaaaaaaa-0000-4000-8000-000000000001',
              from: '447700900123',
              to: '447700900000',
              conversationUuid: 'CON-aaaaaaaa-0000-4000-8000-000000000001',
            },
          },
        ],
      },
    ]);
  });

  it(
    'one leg at 16 kHz: transcribed with the caller as speaker, sample-exact in the leg and the recording, with the webhooks a Twilio call gives',
    { timeout: 30_000 },
    async () => {
      const callSid = 'bbbbbbbb-0000-4000-8000-000000000001';
      const { ncco } = await requestAnswer(gateway.baseUrl, VONAGE_SECRET, { uuid: callSid });
      const vonage = await VonageSocket.open(websocketEndpoint(ncco));
      const caller = mulawAs16k(call.caller);
      await vonage.stream(caller.subarray(0, 3 * 16_000));
      vonage.sendDtmf('7');
      await vonage.stream(caller.subarray(3 * 16_000));
      expect((await vonage.hangUp()).code).toBe(1000);

      const transcript = await eventually(async () => {
        const { body } = await gateway.get(`/v1/calls/${callSid}/transcript`);
        expect(body.complete).toBe(true);
        return body;
      }, 15_000);
      const spoken = call.segments.filter((s) => s.leg === 'caller').map((s) => s.text);
      expect(words(transcript.utterances, 'caller')).toBe(spoken.join(' '));
      expect(transcript.utterances.every((u: { speaker: string }) => u.speaker === 'caller')).toBe(true);

      expect(await gateway.call(callSid)).toMatchObject({
        ingress: 'vonage',
        streamSid: callSid,
        mode: 'transcribe',
        bidirectional: false,
        state: 'ended',
        endReason: 'hangup',
        dtmf: [{ digit: '7', atMs: 3000 }],
        customParameters: { from: '447700900001', to: '447700900000' },
        legs: [{ label: 'caller', track: 'inbound', codec: 'l16', sampleRate: 16_000, audioSeconds: 23 }],
        malformedMessages: { total: 0 },
      });
      expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), caller)).toBe(-1);

      const events = await eventually(() => {
        const list = gateway.eventsOf(callSid);
        expect(list.map((e) => e.type)).toContain('call.ended');
        return list;
      }, 10_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      const types = events.map((e) => e.type);
      expect(types[0]).toBe('call.started');
      expect(types.filter((t) => t === 'transcript.final')).toHaveLength(spoken.length);
      expect(types.filter((t) => t !== 'transcript.final' && t !== 'dtmf')).toEqual([
        'call.started',
        'recording.ready',
        'call.ended',
      ]);
      expect(events[0].data).toMatchObject({
        ingress: 'vonage',
        legs: [{ speaker: 'caller', track: 'inbound' }],
      });
      expect(events.find((e) => e.type === 'dtmf')?.data).toEqual({
        digit: '7',
        speaker: 'caller',
        atMs: 3000,
      });

      // The recording's caller channel is what Vonage sent, sample for sample.
      const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`);
      expect(response.status).toBe(200);
      const wav = Buffer.from(await response.arrayBuffer());
      expect(firstDifference(pcm16Channel(wav, 0).subarray(0, caller.length), caller)).toBe(-1);
      expect((await gateway.get('/metrics')).body).toMatch(
        /voxline_ingress_calls_total\{ingress="vonage"\} \d/,
      );
    },
  );

  it('one leg at 8 kHz (the rate the socket names): upsampled exactly as voxline upsamples every 8 kHz leg', async () => {
    const callSid = 'bbbbbbbb-0000-4000-8000-000000000002';
    const { ncco } = await requestAnswer(gateway.baseUrl, VONAGE_SECRET, { uuid: callSid, method: 'POST' });
    const endpoint = { ...websocketEndpoint(ncco), 'content-type': 'audio/l16;rate=8000' };
    const vonage = await VonageSocket.open(endpoint);
    const caller8k = mulawTo8k(greeting.caller);
    expect(await vonage.stream(caller8k)).toBe(250);
    await vonage.hangUp();
    await eventually(() => expect(gateway.tap.legs.get(`${callSid}/caller`)?.ended).toBe(true));
    const snapshot = await gateway.call(callSid);
    expect(snapshot.legs[0]).toMatchObject({ sampleRate: 8000, audioSeconds: 5, gapFilledMs: 0 });
    const expected = new Upsampler8to16().pushPcm(caller8k);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), expected)).toBe(-1);
  });

  it('event webhooks are recorded on the call they name', async () => {
    const callSid = 'bbbbbbbb-0000-4000-8000-000000000003';
    const { ncco } = await requestAnswer(gateway.baseUrl, VONAGE_SECRET, { uuid: callSid });
    const vonage = await VonageSocket.open(websocketEndpoint(ncco));
    await eventually(() => expect(gateway.app.registry.get(callSid)).toBeDefined());
    const status = await postEvent(gateway.baseUrl, VONAGE_SECRET, {
      uuid: callSid,
      conversation_uuid: `CON-${callSid}`,
      status: 'answered',
      direction: 'inbound',
      timestamp: '2026-01-01T00:00:00.000Z',
    });
    expect(status).toBe(204);
    await vonage.hangUp();
    const snapshot = (await gateway.call(callSid)) as unknown as { status: unknown[] };
    expect(snapshot.status).toEqual([
      {
        event: 'call-answered',
        receivedAt: expect.any(String),
        detail: { status: 'answered', conversationUuid: `CON-${callSid}` },
      },
    ]);
  });
});
