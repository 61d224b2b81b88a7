import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { G722Decoder, G722Encoder } from '../../../src/audio/g722.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { fetchTexml, streamTelnyxCall, telnyxKeys } from '../../doubles/telnyx-client.js';
import { demoCall } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
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
 * A Telnyx call end to end against a real gateway: the TeXML answer (signed with Ed25519 like
 * Telnyx), the token-bearing stream URL it gives, the media stream from the Telnyx double (out of
 * order on the wire), the vLLM realtime double transcribing each leg, webhooks at a real receiver,
 * the recording. The same demo call is also played over Twilio into the same gateway: a Telnyx call
 * must produce what a Twilio call produces.
 */

const keys = telnyxKeys();
const call = demoCall('support-call');
/*
 * The same call as a G.722 carrier sends it: each leg at 16 kHz, G.722 encoded (the codec is
 * proven bit-exact against ffmpeg in test/audio/g722.test.ts), and what voxline must hand on.
 */
const wide = (['caller', 'agent'] as const).map((leg) => {
  const g722 = new G722Encoder().encode(expected16k(call[leg], call.durationMs / 20));
  return { leg, g722, decoded: new G722Decoder().decode(g722) };
});

let gateway: EdgeGateway;

beforeAll(async () => {
  const reference = new ReferenceAudio([call]);
  for (const { leg, decoded } of wide)
    reference.addWideband(
      decoded,
      call.words.filter((w) => w.leg === leg),
    );
  gateway = await startEdgeGateway(
    {
      TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
      TELNYX_STREAM_SECRET: 'telnyx-stream-secret-0123456789abcdef',
    },
    reference,
  );
}, 30_000);
afterAll(() => gateway.close());

describe('Telnyx: a two-leg call of the demo audio', () => {
  it('is transcribed with speakers right, sample-exact on one clock, with the webhooks a Twilio call gives', async () => {
    const callControlId = 'v3:telnyx-call-0001';
    const callSid = 'v3_telnyx-call-0001'; // voxline's id for it: plain, for file names and paths
    const answer = await fetchTexml(`${gateway.baseUrl}/telnyx/texml`, keys, {
      CallSid: callControlId,
      AccountSid: 'f5586561-8ff0-4291-a51b-c7dfe4139ff9',
      From: '+13122010094',
      To: '+13122123456',
      Direction: 'inbound',
    });
    expect(answer.status).toBe(200);
    expect(answer.streamAttributes).toMatchObject({ track: 'both_tracks', codec: 'PCMU' });
    // Frames overtake each other on the wire (every 37th message): reordering puts them back.
    const swaps = new Set(Array.from({ length: 60 }, (_, i) => 5 + i * 37));
    const result = await streamTelnyxCall({
      url: answer.streamUrl ?? '',
      callControlId,
      customParameters: answer.parameters,
      tracks: { inbound: call.caller, outbound: call.agent },
      dtmf: [{ beforeFrame: 150, digit: '7' }],
      swapWithNext: swaps,
    });
    expect(result.closeCode).toBe(1000);
    const frames = call.durationMs / 20;
    expect(result.mediaSent).toBe(frames * 2);

    const transcript = await gateway.transcript(callSid);
    const said = (speaker: string) =>
      transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === speaker)
        .map((u: { text: string }) => u.text)
        .join(' ');
    for (const leg of ['caller', 'agent'] as const) expect(said(leg)).toBe(spoken(call, leg));

    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details).toMatchObject({
      ingress: 'telnyx',
      streamSid: `stream-${callControlId}`,
      mode: 'transcribe',
      bidirectional: false,
      state: 'ended',
      endReason: 'stop',
      dtmf: [{ digit: '7', atMs: 3000 }],
    });
    expect(details.customParameters).toMatchObject({
      from: '+13122010094',
      to: '+13122123456',
      telnyxCallControlId: callControlId,
    });
    expect(details.malformedMessages.total).toBe(0);
    // Every overtaken frame was held and put back in its place; none was lost or late.
    expect(details.rtp).toEqual([
      { stream: `stream-${callControlId}`, reordered: swaps.size, late: 0, duplicates: 0, missing: 0 },
    ]);
    for (const leg of details.legs) {
      expect(leg).toMatchObject({ gapFilledMs: 0, framesDropped: 0, positionMs: call.durationMs });
    }

    // What the core got, and what was recorded, is Telnyx's μ-law decoded: every sample.
    await expectBothLegsExact(gateway, callSid, {
      caller: expected16k(call.caller, frames),
      agent: expected16k(call.agent, frames),
    });

    const events = await gateway.ended(callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events[0]?.type).toBe('call.started');
    expect(events[0]?.data).toMatchObject({
      ingress: 'telnyx',
      legs: [
        { speaker: 'caller', track: 'inbound' },
        { speaker: 'agent', track: 'outbound' },
      ],
    });

    // The same audio over Twilio into the same gateway: the same events, the same words.
    const twilio = await expectSameAsTwilio(gateway, events, { dtmf: [{ atMs: 3000, digit: '7' }] });
    const words = (list: Event[], speaker: string) =>
      list
        .filter((e) => e.type === 'transcript.final' && e.data.speaker === speaker)
        .map((e) => e.data.text)
        .join(' ')
        .replace(/\s+/g, ' ') // where the double cuts finals depends on pacing
        .trim();
    for (const speaker of ['caller', 'agent']) {
      expect(words(events, speaker)).toBe(words(twilio.events, speaker));
      expect(words(events, speaker).length).toBeGreaterThan(10);
    }
    for (const final of events.filter((e) => e.type === 'transcript.final')) {
      const own = call.segments.filter((seg) => seg.leg === final.data.speaker).map((seg) => seg.text);
      expect(own.join(' ')).toContain(final.data.text);
    }
  }, 60_000);

  it('announced as G722: decoded at 16 kHz exactly, transcribed with speakers right', async () => {
    const callControlId = 'v3:telnyx-g722-0001';
    const callSid = 'v3_telnyx-g722-0001';
    const answer = await fetchTexml(`${gateway.baseUrl}/telnyx/texml`, keys, { CallSid: callControlId });
    const result = await streamTelnyxCall({
      url: answer.streamUrl ?? '',
      callControlId,
      mediaFormat: { encoding: 'G722', sample_rate: 16000, channels: 1 },
      customParameters: answer.parameters,
      tracks: { inbound: wide[0]?.g722, outbound: wide[1]?.g722 },
    });
    expect(result.closeCode).toBe(1000);
    for (const { leg, decoded } of wide) {
      expect(firstDifference(gateway.tap.pcm(callSid, leg), decoded)).toBe(-1);
    }
    const transcript = await gateway.transcript(callSid);
    for (const leg of ['caller', 'agent'] as const) {
      const said = transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === leg)
        .map((u: { text: string }) => u.text)
        .join(' ');
      expect(said).toBe(spoken(call, leg));
    }
    const { body: details } = await gateway.v1(`/v1/calls/${callSid}`);
    expect(details.legs.map((l: { codec: string }) => l.codec)).toEqual(['g722', 'g722']);
  }, 60_000);
});
