import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { signTelnyx, streamTelnyxCall, telnyxKeys } from '../doubles/telnyx-client.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';
import { TelnyxCallsDouble } from './telnyx-calls-double.js';

/*
 * Outbound calls over Telnyx Call Control against a real gateway: POST /v1/calls dials through a
 * double of Telnyx's REST API, which then plays Telnyx (signed Call Control webhooks, the dial's
 * stream_url opened as a media stream with real audio), so an answered call is transcribed like
 * any Telnyx call. Also busy, no-answer, a machine, a refused dial and forged requests.
 */

const ADMIN = 'telnyx-outbound-admin-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const API_KEY = 'KEY0123456789ABCDEF_telnyx-test-key';
const CONNECTION = '1494404757140276705';
const keys = telnyxKeys();
const call = demoCall('greeting');

let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;
let telnyx: TelnyxCallsDouble;

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  receiver = new TestReceiver();
  telnyx = new TelnyxCallsDouble({ apiKey: API_KEY, keys, callee: call.caller, played: call.agent });
  gateway = await startGateway({
    TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
    TELNYX_STREAM_SECRET: 'telnyx-stream-secret-0123456789abcdef',
    TELNYX_API_KEY: API_KEY,
    TELNYX_CONNECTION_ID: CONNECTION,
    TELNYX_API_BASE_URL: await telnyx.listen(),
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    ADMIN_TOKEN: ADMIN,
    OUTBOUND_CALLS_PER_SECOND: '100',
  });
}, 30_000);
afterAll(async () => {
  await gateway.close();
  await Promise.all([vllm.close(), receiver.close(), telnyx.close()]);
});

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON of many shapes; assertions check it.
async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.baseUrl}${path}`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const DIAL = { to: '+13122123456', from: '+13122010094', mode: 'transcribe', carrier: 'telnyx' } as const;

function dialed(dialId: string): Promise<Event> {
  return eventually(() => {
    const event = receiver.events.find((e) => e.type === 'call.dialed' && e.data.dialId === dialId);
    expect(event).toBeDefined();
    return event as Event;
  }, 10_000);
}

describe('outbound calls over Telnyx', () => {
  it('dials over Call Control, and the answered call is an ordinary transcribed Telnyx call', async () => {
    telnyx.script = () => ({ kind: 'answer' });
    const placed = await post('/v1/calls', { ...DIAL, parameters: { campaign: 'spring' }, ringTimeoutS: 40 });
    expect(placed.status).toBe(202);
    const dialId: string = placed.body.id;
    const dial = telnyx.calls.at(-1);
    if (!dial) throw new Error('no call was dialled');
    expect(placed.body.carrierCallId).toBe(dial.callControlId);
    expect(dial.authorization).toBe(`Bearer ${API_KEY}`);
    expect(dial.body).toMatchObject({
      connection_id: CONNECTION,
      to: DIAL.to,
      from: DIAL.from,
      stream_track: 'both_tracks',
      stream_codec: 'PCMU',
      answering_machine_detection: 'disabled',
      timeout_secs: 40,
      client_state: Buffer.from(dialId).toString('base64'),
      webhook_url: `${gateway.baseUrl}/telnyx/dial/events`,
    });
    expect(dial.body.stream_url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/telnyx\/dial\/media\?token=/);
    expect(dial.body.stream_bidirectional_mode).toBeUndefined(); // transcribing sends nothing back

    const played = await dial.done;
    expect(played.error).toBeUndefined();
    expect(played.webhooks.every((s) => s === 200)).toBe(true);
    expect(played.stream?.closeCode).toBe(1000);
    const callSid = dial.callControlId.replace(/[^A-Za-z0-9_-]/g, '_');
    expect((await dialed(dialId)).data).toMatchObject({ outcome: 'answered', callSid, carrier: 'telnyx' });

    const transcript = await eventually(async () => {
      const { body } = await gateway.get(`/v1/calls/${callSid}/transcript`, AUTH);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
    for (const leg of ['caller', 'agent'] as const) {
      const words = call.segments.filter((s) => s.leg === leg).map((s) => s.text);
      const said = transcript.utterances.filter((u: { speaker: string }) => u.speaker === leg);
      expect(said.map((u: { text: string }) => u.text).join(' ')).toBe(words.join(' '));
    }
    const { body: details } = await gateway.get(`/v1/calls/${callSid}`, AUTH);
    expect(details).toMatchObject({ ingress: 'telnyx', mode: 'transcribe', state: 'ended' });
    expect(details.customParameters).toMatchObject({
      voxlineDialId: dialId,
      direction: 'outbound',
      campaign: 'spring',
      telnyxCallControlId: dial.callControlId,
    });
    const events = await eventually(() => {
      const list = receiver.events.filter((e) => e.callSid === callSid);
      expect(list.map((e) => e.type)).toContain('call.ended');
      return list;
    }, 20_000);
    expect(events.find((e) => e.type === 'call.started')?.data.customParameters.voxlineDialId).toBe(dialId);
    const validate = schemaValidator();
    for (const e of [await dialed(dialId), ...events]) expect(validate(e)).toEqual([]);
  }, 60_000);

  it('asks for a bidirectional stream of the callee only in agent mode', async () => {
    telnyx.script = () => ({ kind: 'hangup', cause: 'user_busy', sip: '486' });
    const placed = await post('/v1/calls', { ...DIAL, mode: 'agent' });
    expect(telnyx.calls.at(-1)?.body).toMatchObject({
      stream_track: 'inbound_track',
      stream_bidirectional_mode: 'rtp',
      stream_bidirectional_codec: 'PCMU',
    });
    expect((await dialed(placed.body.id)).data).toMatchObject({
      outcome: 'busy',
      detail: 'user_busy',
      status: 486,
    });
  });

  it.each([
    ['timeout', 'no-answer'],
    ['call_rejected', 'busy'],
    ['unspecified', 'failed'],
  ] as const)('reports hangup_cause %s as %s', async (cause, outcome) => {
    telnyx.script = () => ({ kind: 'hangup', cause });
    const placed = await post('/v1/calls', DIAL);
    expect((await dialed(placed.body.id)).data).toMatchObject({ outcome, detail: cause });
  });

  it('asks for machine detection and reports a machine', async () => {
    telnyx.script = () => ({ kind: 'answer', amd: 'machine', stream: false });
    const placed = await post('/v1/calls', { ...DIAL, detectMachine: true });
    expect(telnyx.calls.at(-1)?.body.answering_machine_detection).toBe('detect');
    expect((await dialed(placed.body.id)).data).toMatchObject({ outcome: 'machine', answeredBy: 'machine' });
  });

  it('cancels a ringing call with a hang-up', async () => {
    telnyx.script = () => ({ kind: 'ring' });
    const placed = await post('/v1/calls', DIAL);
    expect((await post(`/v1/calls/dial/${placed.body.id}/cancel`, {})).status).toBe(202);
    expect((await dialed(placed.body.id)).data).toMatchObject({
      outcome: 'canceled',
      detail: 'normal_clearing',
    });
  });

  it('answers a refused dial with 502 VL_ERR_DIAL_REJECTED, keeping no attempt', async () => {
    telnyx.script = () => ({
      kind: 'refuse',
      status: 422,
      code: '10015',
      detail: 'The destination number is invalid.',
    });
    const refused = await post('/v1/calls', DIAL);
    expect([refused.status, refused.body.error.code]).toEqual([502, 'VL_ERR_DIAL_REJECTED']);
    expect(refused.body.error.message).toContain('Telnyx answered 422: 10015');
    expect(gateway.app.outbound.inFlight('telnyx')).toBe(0);
  });

  it('refuses unsigned webhooks, and streams whose token names no answered call', async () => {
    const body = JSON.stringify({ data: { event_type: 'call.hangup', payload: { call_control_id: 'x' } } });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const forged = await fetch(`${gateway.baseUrl}/telnyx/dial/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'telnyx-timestamp': timestamp,
        'telnyx-signature-ed25519': signTelnyx(telnyxKeys().privateKey, timestamp, body),
      },
      body,
    });
    expect(forged.status).toBe(403);
    // The token of a call that has hung up (the first test's) opens nothing any more.
    const first = telnyx.calls[0];
    await expect(
      streamTelnyxCall({
        url: first?.body.stream_url,
        callControlId: first?.callControlId ?? '',
        tracks: { inbound: call.caller },
      }),
    ).rejects.toThrow('refused');
  });
});
