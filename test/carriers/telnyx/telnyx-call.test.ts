import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { G722Decoder, G722Encoder } from '../../../src/audio/g722.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { fetchTexml, streamTelnyxCall, telnyxKeys } from '../../doubles/telnyx-client.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, pcm16Channel, playDemo } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';

/*
 * A Telnyx call end to end against a real gateway: the TeXML answer (signed with Ed25519 like
 * Telnyx), the token-bearing stream URL it gives, the media stream from the Telnyx double (out of
 * order on the wire), the vLLM realtime double transcribing each leg, webhooks at a real receiver,
 * the recording. The same demo call is also played over Twilio into the same gateway: a Telnyx call
 * must produce what a Twilio call produces.
 */

const ADMIN = 'telnyx-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}` };
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

let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;

beforeAll(async () => {
  const reference = new ReferenceAudio([call]);
  for (const { leg, decoded } of wide)
    reference.addWideband(
      decoded,
      call.words.filter((w) => w.leg === leg),
    );
  vllm = new VllmRealtimeDouble({ reference });
  await vllm.listen();
  receiver = new TestReceiver();
  gateway = await startGateway({
    TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
    TELNYX_STREAM_SECRET: 'telnyx-stream-secret-0123456789abcdef',
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

    const transcript = await eventually(async () => {
      const { body } = await v1(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
    const said = (speaker: string) =>
      transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === speaker)
        .map((u: { text: string }) => u.text)
        .join(' ');
    for (const leg of ['caller', 'agent'] as const) {
      const words = call.segments.filter((s) => s.leg === leg).map((s) => s.text);
      expect(said(leg)).toBe(words.join(' '));
    }

    const { body: details } = await v1(`/v1/calls/${callSid}`);
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
    const wav = await eventually(async () => {
      const response = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`, {
        headers: AUTH,
      });
      expect(response.status).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    }, 20_000);
    for (const [channel, leg, audio] of [
      [0, 'caller', call.caller],
      [1, 'agent', call.agent],
    ] as const) {
      const expected = expected16k(audio, frames);
      expect(firstDifference(gateway.tap.pcm(callSid, leg), expected)).toBe(-1);
      expect(firstDifference(pcm16Channel(wav, channel), expected)).toBe(-1);
    }

    const events = await ended(callSid);
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
    const twilio = await playDemo(gateway, 'support-call', { dtmf: [{ atMs: 3000, digit: '7' }] });
    const twilioEvents = await ended(twilio.callSid);
    const shape = (list: Event[]) => list.map((e) => e.type).filter((t) => t !== 'transcript.final');
    expect(shape(events)).toEqual(shape(twilioEvents));
    const words = (list: Event[], speaker: string) =>
      list
        .filter((e) => e.type === 'transcript.final' && e.data.speaker === speaker)
        .map((e) => e.data.text)
        .join(' ')
        .replace(/\s+/g, ' ') // where the double cuts finals depends on pacing
        .trim();
    for (const speaker of ['caller', 'agent']) {
      expect(words(events, speaker)).toBe(words(twilioEvents, speaker));
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
    const transcript = await eventually(async () => {
      const { body } = await v1(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
    for (const leg of ['caller', 'agent'] as const) {
      const said = transcript.utterances
        .filter((u: { speaker: string }) => u.speaker === leg)
        .map((u: { text: string }) => u.text)
        .join(' ');
      expect(said).toBe(
        call.segments
          .filter((s) => s.leg === leg)
          .map((s) => s.text)
          .join(' '),
      );
    }
    const { body: details } = await v1(`/v1/calls/${callSid}`);
    expect(details.legs.map((l: { codec: string }) => l.codec)).toEqual(['g722', 'g722']);
  }, 60_000);
});
