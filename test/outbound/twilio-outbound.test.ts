import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';
import { type Event, SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';
import { signTwilio, TwilioCallsDouble } from './twilio-calls-double.js';

/*
 * Outbound calls over Twilio against a real gateway: POST /v1/calls goes through the official
 * `twilio` client to a double of Twilio's REST API, which then plays Twilio (signed status
 * callbacks, the TwiML's media stream with real audio), so an answered call is transcribed by the
 * vLLM double like any call. Also busy, no-answer, an answering machine, a refused request, the
 * concurrency cap and cancelling.
 */

const ADMIN = 'outbound-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const ACCOUNT = `AC${'0123456789abcdef'.repeat(2)}`;
const call = demoCall('greeting');

let gateway: Gateway;
let vllm: VllmRealtimeDouble;
let receiver: TestReceiver;
let twilio: TwilioCallsDouble;

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  receiver = new TestReceiver();
  twilio = new TwilioCallsDouble({
    accountSid: ACCOUNT,
    authToken: AUTH_TOKEN,
    callee: call.caller,
    played: call.agent,
  });
  gateway = await startGateway({
    TWILIO_ACCOUNT_SID: ACCOUNT,
    TWILIO_API_BASE_URL: await twilio.listen(),
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    ADMIN_TOKEN: ADMIN,
    OUTBOUND_MAX_CONCURRENT: '2',
    OUTBOUND_CALLS_PER_SECOND: '100',
  });
}, 30_000);
afterAll(async () => {
  await gateway.close();
  await Promise.all([vllm.close(), receiver.close(), twilio.close()]);
});

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON of many shapes; assertions check it.
async function post(path: string, body: unknown): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${gateway.baseUrl}${path}`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const DIAL = { to: '+15005550006', from: '+15005550001', mode: 'transcribe', carrier: 'twilio' } as const;

function dialed(dialId: string): Promise<Event> {
  return eventually(() => {
    const event = receiver.events.find((e) => e.type === 'call.dialed' && e.data.dialId === dialId);
    expect(event).toBeDefined();
    return event as Event;
  }, 10_000);
}

describe('outbound calls over Twilio', () => {
  it('dials through the Twilio client, and the answered call is an ordinary transcribed call', async () => {
    twilio.script = () => ({ kind: 'answer' });
    const placed = await post('/v1/calls', { ...DIAL, parameters: { campaign: 'spring' }, ringTimeoutS: 25 });
    expect(placed.status).toBe(202);
    expect(placed.body).toMatchObject({ status: 'dialing' });
    const dialId: string = placed.body.id;
    expect(dialId).toMatch(/^dial_[0-9a-f]{24}$/);

    const created = twilio.calls.at(-1);
    if (!created) throw new Error('no call was created');
    expect(placed.body.carrierCallId).toBe(created.sid);
    expect({ user: created.user, password: created.password }).toEqual({
      user: ACCOUNT,
      password: AUTH_TOKEN,
    });
    expect(
      Object.fromEntries([...created.params].filter(([k]) => k !== 'Twiml' && k !== 'StatusCallbackEvent')),
    ).toEqual({
      To: DIAL.to,
      From: DIAL.from,
      StatusCallback: `${gateway.baseUrl}/twilio/dial/${dialId}/status`,
      StatusCallbackMethod: 'POST',
      Timeout: '25',
    });
    expect(created.params.getAll('StatusCallbackEvent')).toEqual([
      'initiated',
      'ringing',
      'answered',
      'completed',
    ]);
    // The inbound TwiML (transcribe: <Start><Stream> of both tracks), with the dial's parameters.
    expect(created.params.get('Twiml')).toContain('<Start><Stream url="ws://127.0.0.1:');
    expect(created.params.get('Twiml')).toContain('track="both_tracks"');
    expect(created.streamUrl).toBe(gateway.mediaUrl);
    expect(created.parameters).toMatchObject({
      voxlineDialId: dialId,
      direction: 'outbound',
      campaign: 'spring',
    });

    const played = await created.done;
    expect(played.error).toBeUndefined();
    expect(played.callbacks.every((status) => status === 204)).toBe(true);
    expect(played.stream?.closeCode).toBe(1000);
    const event = await dialed(dialId);
    expect(event).toMatchObject({
      callSid: dialId,
      data: { outcome: 'answered', callSid: created.sid, carrier: 'twilio' },
    });

    const transcript = await eventually(async () => {
      const { body } = await gateway.get(`/v1/calls/${created.sid}/transcript`, AUTH);
      expect(body.complete).toBe(true);
      return body;
    }, 20_000);
    for (const leg of ['caller', 'agent'] as const) {
      const words = call.segments.filter((s) => s.leg === leg).map((s) => s.text);
      const said = transcript.utterances.filter((u: { speaker: string }) => u.speaker === leg);
      expect(said.map((u: { text: string }) => u.text).join(' ')).toBe(words.join(' '));
    }
    const { body: details } = await gateway.get(`/v1/calls/${created.sid}`, AUTH);
    expect(details).toMatchObject({ ingress: 'twilio', mode: 'transcribe', state: 'ended' });
    expect(details.customParameters).toMatchObject({
      voxlineDialId: dialId,
      direction: 'outbound',
      to: DIAL.to,
      from: DIAL.from,
      campaign: 'spring',
    });
    const attempt = await gateway.get(`/v1/calls/dial/${dialId}`, AUTH);
    expect(attempt.body).toMatchObject({ status: 'answered', outcome: 'answered', callSid: created.sid });

    const events = await eventually(() => {
      const list = receiver.events.filter((e) => e.callSid === created.sid);
      expect(list.map((e) => e.type)).toContain('call.ended');
      return list;
    }, 20_000);
    expect(events.find((e) => e.type === 'call.started')?.data.customParameters.voxlineDialId).toBe(dialId);
    const validate = schemaValidator();
    for (const e of [event, ...events]) expect(validate(e)).toEqual([]);
  }, 60_000);

  it.each([
    ['busy', 'busy'],
    ['no-answer', 'no-answer'],
    ['failed', 'failed'],
  ] as const)('reports %s', async (status, outcome) => {
    twilio.script = () => ({ kind: 'end', status });
    const placed = await post('/v1/calls', DIAL);
    expect(placed.status).toBe(202);
    expect((await dialed(placed.body.id)).data).toMatchObject({ outcome, detail: status });
    expect((await gateway.get(`/v1/calls/dial/${placed.body.id}`, AUTH)).body).toMatchObject({
      status: 'ended',
      outcome,
    });
  });

  it('asks for machine detection, and reports a machine', async () => {
    twilio.script = () => ({ kind: 'answer', answeredBy: 'machine_end_beep', stream: false });
    const placed = await post('/v1/calls', { ...DIAL, detectMachine: true });
    expect(twilio.calls.at(-1)?.params.get('MachineDetection')).toBe('Enable');
    expect((await dialed(placed.body.id)).data).toMatchObject({ outcome: 'machine', answeredBy: 'machine' });
  });

  it('answers a refusal by Twilio with 502 VL_ERR_DIAL_REJECTED, keeping no attempt', async () => {
    twilio.script = () => ({
      kind: 'refuse',
      status: 400,
      code: 21211,
      message: "The 'To' number is not a valid phone number.",
    });
    const refused = await post('/v1/calls', DIAL);
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('VL_ERR_DIAL_REJECTED');
    expect(refused.body.error.message).toContain('21211');
    expect(gateway.app.outbound.inFlight('twilio')).toBe(0);
  });

  it('refuses over the concurrency cap with 429 and Retry-After; cancelling frees the slots', async () => {
    twilio.script = () => ({ kind: 'ring' });
    const first = await post('/v1/calls', DIAL);
    const second = await post('/v1/calls', DIAL);
    const third = await post('/v1/calls', DIAL);
    expect([first.status, second.status, third.status]).toEqual([202, 202, 429]);
    expect(third.body.error.code).toBe('VL_ERR_DIAL_LIMIT');
    expect(third.headers.get('retry-after')).toBe('1');
    await eventually(async () => {
      expect((await gateway.get(`/v1/calls/dial/${second.body.id}`, AUTH)).body.status).toBe('ringing');
    });
    for (const placed of [first, second]) {
      expect((await post(`/v1/calls/dial/${placed.body.id}/cancel`, {})).status).toBe(202);
      expect((await dialed(placed.body.id)).data.outcome).toBe('canceled');
    }
    expect(gateway.app.outbound.inFlight('twilio')).toBe(0);
    const audit = await gateway.get('/v1/audit?action=call.cancel', AUTH);
    expect(audit.body.entries[0]).toMatchObject({
      action: 'call.cancel',
      target: `dial:${second.body.id}`,
      status: 202,
    });
  });

  it('checks the request at the boundary', async () => {
    for (const [body, where] of [
      [{ ...DIAL, to: 'not a number' }, 'to'],
      [{ ...DIAL, carrier: 'vonage' }, 'carrier'],
      [{ ...DIAL, ringTimeout: 20 }, 'ringTimeout: Unexpected property'],
      [{ ...DIAL, parameters: { voxlineDialId: 'x' } }, 'parameters.voxlineDialId'],
      [{ ...DIAL, ringTimeoutS: 2 }, 'ringTimeoutS'],
    ] as const) {
      const refused = await post('/v1/calls', body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('VL_ERR_BAD_REQUEST');
      expect(refused.body.error.message).toContain(where);
    }
    const telnyx = await post('/v1/calls', { ...DIAL, carrier: 'telnyx' });
    expect([telnyx.status, telnyx.body.error.code]).toEqual([409, 'VL_ERR_DIALER_NOT_CONFIGURED']);
    const unauthenticated = await fetch(`${gateway.baseUrl}/v1/calls`, { method: 'POST', body: '{}' });
    expect(unauthenticated.status).toBe(401);
    expect((await gateway.get('/v1/calls/dial/dial_000000000000000000000000', AUTH)).status).toBe(404);
  });

  it('refuses a status callback that is not signed by Twilio', async () => {
    const url = `${gateway.baseUrl}/twilio/dial/dial_000000000000000000000000/status`;
    const fields = { CallSid: `CA${'0'.repeat(32)}`, CallStatus: 'busy' };
    const send = (signature: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(fields).toString(),
      });
    expect((await send(signTwilio('another-token', url, fields))).status).toBe(403);
    expect((await send(signTwilio(AUTH_TOKEN, url, fields))).status).toBe(204); // signed, of no attempt: ignored
  });
});
