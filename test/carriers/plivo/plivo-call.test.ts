import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlivoStream, postAnswer } from '../../doubles/plivo-client.js';
import { demoCall } from '../../helpers/media.js';
import { type Event, schemaValidator } from '../../helpers/webhooks.js';
import {
  type EdgeGateway,
  expectBothLegsExact,
  expected16k,
  expectSameAsTwilio,
  spoken,
  startEdgeGateway,
} from '../stream-edge-harness.js';

/*
 * A Plivo call end to end against a real gateway: the answer URL (signed like Plivo), the XML's
 * stream URL, the audio stream from the Plivo double, the vLLM realtime double transcribing each
 * leg, webhooks at a real receiver, the recording. The same demo call is also played over Twilio
 * into the same gateway: a Plivo call must produce what a Twilio call produces.
 */

const PLIVO_TOKEN = 'plivo-auth-token-0123456789abcdef';
const call = demoCall('support-call');

let gateway: EdgeGateway;

beforeAll(async () => {
  gateway = await startEdgeGateway({ PLIVO_AUTH_TOKEN: PLIVO_TOKEN });
}, 30_000);
afterAll(() => gateway.close());

async function answer(callUuid: string, query = '') {
  return postAnswer(`${gateway.baseUrl}/plivo/answer${query}`, PLIVO_TOKEN, {
    CallUUID: callUuid,
    From: '14155550100',
    To: '14155550199',
    Direction: 'inbound',
  });
}

describe('Plivo: a two-leg call of the demo audio', () => {
  it('answers with a listen-only, both-track <Stream> that holds the call, and refuses an unsigned answer', async () => {
    const result = await answer('aaaa0000-1111-2222-3333-444455556666');
    expect(result.status).toBe(200);
    expect(result.stream?.attributes).toMatchObject({
      bidirectional: 'false',
      audioTrack: 'both',
      keepCallAlive: 'true',
      contentType: 'audio/x-mulaw;rate=8000',
      streamTimeout: '86400',
      statusCallbackUrl: `${gateway.baseUrl}/plivo/status`,
    });
    const url = new URL(result.stream?.url ?? '');
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe(
      `${gateway.baseUrl.replace('http', 'ws')}/plivo/media`,
    );
    expect(url.searchParams.get('call')).toBe('aaaa0000-1111-2222-3333-444455556666');

    const forged = await postAnswer(`${gateway.baseUrl}/plivo/answer`, 'not-the-token', { CallUUID: 'x1' });
    expect(forged.status).toBe(403);
    expect(forged.stream).toBeUndefined();
    const agent = await answer('aaaa0000-1111-2222-3333-444455556667', '?mode=agent');
    expect(agent.stream?.attributes).toMatchObject({ bidirectional: 'true', audioTrack: 'inbound' });
  });

  it('is transcribed with speakers right, sample-exact on one clock, with the webhooks a Twilio call gives', async () => {
    const callUuid = 'c0ffee00-1111-2222-3333-444455556666';
    const { stream: xmlStream } = await answer(callUuid);
    const plivo = await PlivoStream.open({
      url: xmlStream?.url ?? '',
      callId: callUuid,
      tracks: ['inbound', 'outbound'],
    });
    plivo.sendStart();
    // Stamps that jitter by up to 3 ms (Plivo's may be send times): nothing filled or dropped.
    const frames = await plivo.play(
      { inbound: call.caller, outbound: call.agent },
      { dtmf: [{ atMs: 3000, digit: '7' }], jitterMs: (i) => ((i * 7) % 7) - 3 },
    );
    expect(frames).toBe(call.durationMs / 20);
    expect((await plivo.hangUp()).code).toBe(1000);

    const transcript = await gateway.transcript(callUuid);
    const said = (speaker: string) =>
      transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === speaker)
        .map((u: { text: string }) => u.text)
        .join(' ');
    for (const leg of ['caller', 'agent'] as const) expect(said(leg)).toBe(spoken(call, leg));

    const { body: details } = await gateway.v1(`/v1/calls/${callUuid}`);
    expect(details).toMatchObject({
      ingress: 'plivo',
      streamSid: plivo.streamId,
      accountSid: 'MAZDQ1ZJIYMDZKMTEXAA',
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      dtmf: [{ digit: '7', atMs: 3000 }],
    });
    expect(details.malformedMessages.total).toBe(0);
    for (const leg of details.legs) {
      expect(leg).toMatchObject({ gapFilledMs: 0, framesDropped: 0, positionMs: call.durationMs });
    }

    // What the core got, and what was recorded, is Plivo's μ-law decoded: every sample.
    await expectBothLegsExact(gateway, callUuid, {
      caller: expected16k(call.caller, frames),
      agent: expected16k(call.agent, frames),
    });

    const events = await gateway.ended(callUuid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'plivo',
      legs: [
        { speaker: 'caller', track: 'inbound' },
        { speaker: 'agent', track: 'outbound' },
      ],
    });

    // The same audio over Twilio into the same gateway: the same events, the same finals.
    const twilio = await expectSameAsTwilio(gateway, events, { dtmf: [{ atMs: 3000, digit: '7' }] });
    // Each leg's words are the same; how a leg's speech falls into finals depends on pacing
    // (the Twilio simulator's fast mode is faster still), so finals are compared per speaker.
    const words = (list: Event[], speaker: string) =>
      list
        .filter((e) => e.type === 'transcript.final' && e.data.speaker === speaker)
        .map((e) => e.data.text)
        .join(' ');
    for (const speaker of ['caller', 'agent'])
      expect(words(events, speaker)).toBe(words(twilio.events, speaker));
    // Finals per utterance (where the double cuts them depends on pacing): each one a speaker's own words.
    for (const final of events.filter((e) => e.type === 'transcript.final')) {
      const own = call.segments.filter((seg) => seg.leg === final.data.speaker).map((seg) => seg.text);
      expect(own.join(' ')).toContain(final.data.text);
    }
  }, 60_000);
});
