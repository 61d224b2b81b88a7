import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { PlivoStream, postAnswer } from '../../doubles/plivo-client.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, pcm16Channel, playDemo } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';

/*
 * A Plivo call end to end against a real gateway: the answer URL (signed like Plivo), the XML's
 * stream URL, the audio stream from the Plivo double, the vLLM realtime double transcribing each
 * leg, webhooks at a real receiver, the recording. The same demo call is also played over Twilio
 * into the same gateway: a Plivo call must produce what a Twilio call produces.
 */

const PLIVO_TOKEN = 'plivo-auth-token-0123456789abcdef';
const ADMIN = 'plivo-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}` };
const call = demoCall('support-call');

let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call, demoCall('greeting')]) });
  await vllm.listen();
  receiver = new TestReceiver();
  gateway = await startGateway({
    PLIVO_AUTH_TOKEN: PLIVO_TOKEN,
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    RECORDING_FORMAT: 'pcm16',
    ADMIN_TOKEN: ADMIN,
  });
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

/** What voxline must hand on for a leg: the carrier's μ-law, decoded and upsampled in one go. */
function expected16k(mulaw: Uint8Array, frames: number): Int16Array {
  const padded = new Uint8Array(frames * 160).fill(0xff);
  padded.set(mulaw.subarray(0, padded.length));
  return new Upsampler8to16().pushPcm(mulawToPcm(padded));
}

async function answer(callUuid: string, query = '') {
  return postAnswer(`${gateway.baseUrl}/plivo/answer${query}`, PLIVO_TOKEN, {
    CallUUID: callUuid,
    From: '14155550100',
    To: '14155550199',
    Direction: 'inbound',
  });
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

    const transcript = await eventually(async () => {
      const { body } = await v1(`/v1/calls/${callUuid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
    const said = (speaker: string) =>
      transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === speaker)
        .map((u: { text: string }) => u.text)
        .join(' ');
    for (const leg of ['caller', 'agent'] as const) {
      expect(said(leg)).toBe(
        call.segments
          .filter((s) => s.leg === leg)
          .map((s) => s.text)
          .join(' '),
      );
    }

    const { body: details } = await v1(`/v1/calls/${callUuid}`);
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
    const wav = await eventually(async () => {
      const response = await fetch(`${gateway.baseUrl}/v1/calls/${callUuid}/recording`, { headers: AUTH });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    }, 20_000);
    for (const [channel, leg, audio] of [
      [0, 'caller', call.caller],
      [1, 'agent', call.agent],
    ] as const) {
      const expected = expected16k(audio, frames);
      expect(firstDifference(gateway.tap.pcm(callUuid, leg), expected)).toBe(-1);
      expect(firstDifference(pcm16Channel(wav, channel), expected)).toBe(-1);
    }

    const events = await ended(callUuid);
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
    const twilio = await playDemo(gateway, 'support-call', { dtmf: [{ atMs: 3000, digit: '7' }] });
    const twilioEvents = await ended(twilio.callSid);
    const shape = (list: Event[]) => list.map((e) => e.type).filter((t) => t !== 'transcript.final');
    expect(shape(events)).toEqual(shape(twilioEvents));
    // Each leg's words are the same; how a leg's speech falls into finals depends on pacing
    // (the Twilio simulator's fast mode is faster still), so finals are compared per speaker.
    const words = (list: Event[], speaker: string) =>
      list
        .filter((e) => e.type === 'transcript.final' && e.data.speaker === speaker)
        .map((e) => e.data.text)
        .join(' ');
    for (const speaker of ['caller', 'agent'])
      expect(words(events, speaker)).toBe(words(twilioEvents, speaker));
    // Finals per utterance (where the double cuts them depends on pacing): each one a speaker's own words.
    for (const final of events.filter((e) => e.type === 'transcript.final')) {
      const own = call.segments.filter((seg) => seg.leg === final.data.speaker).map((seg) => seg.text);
      expect(own.join(' ')).toContain(final.data.text);
    }
  }, 60_000);
});
