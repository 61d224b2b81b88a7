import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaQuery } from '../../../src/carriers/vonage/media-token.js';
import {
  postEvent,
  requestAnswer,
  VonageSocket,
  vonageJwt,
  websocketEndpoint,
} from '../../doubles/vonage-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';

/*
 * What a forged, stale or broken request or frame gets from the Vonage edge: webhooks without
 * Vonage's valid JWT and media upgrades without voxline's token are refused before anything is
 * opened; bad frames on a live socket are counted and the call goes on.
 */

const SECRET = 'vonage-signature-secret-0123456789';
const nowS = () => Math.floor(Date.now() / 1000);

describe('Vonage edge: refusals and containment', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({
      VONAGE_SIGNATURE_SECRET: SECRET,
      VONAGE_APPLICATION_ID: 'app-0000',
      MAX_MALFORMED_PER_CALL: '20',
    });
  });
  afterAll(() => gateway.close());

  const uuid = (n: number) => `dddddddd-0000-4000-8000-${String(n).padStart(12, '0')}`;

  async function liveCall(n: number) {
    const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: uuid(n) });
    const vonage = await VonageSocket.open(websocketEndpoint(ncco));
    await eventually(() => expect(gateway.app.registry.get(uuid(n))).toBeDefined());
    return vonage;
  }

  it.each([
    ['no Authorization header', 'none' as const],
    ['a JWT signed with another secret', { secret: 'not-the-secret-at-all-0000' }],
    ['a JWT issued 10 minutes ago', { iat: nowS() - 600 }],
    ['a JWT issued 10 minutes from now', { iat: nowS() + 600 }],
    ['an expired JWT', { exp: nowS() - 120 }],
    ['a JWT for another application', { applicationId: 'app-9999' }],
    ['a JWT whose payload_hash is of another body', { payloadHash: 'ab'.repeat(32) }],
    ['a JWT that says alg HS512', { alg: 'HS512' }],
  ])('the answer webhook with %s: 401, no NCCO', async (_name, jwt) => {
    for (const method of ['GET', 'POST'] as const) {
      const { status, ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: uuid(1), method, jwt });
      expect(status).toBe(401);
      expect(ncco).toEqual([]);
    }
  });

  it('an unsigned JWT (alg none) and a tampered body are refused; the event webhook is checked too', async () => {
    const body = JSON.stringify({ uuid: uuid(2) });
    const [header, claims] = vonageJwt(SECRET, body).split('.');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${claims}.`;
    for (const token of [none, `${header}.${claims}.`]) {
      const response = await fetch(`${gateway.baseUrl}/vonage/answer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
      expect(response.status).toBe(401);
    }
    const tampered = await fetch(`${gateway.baseUrl}/vonage/answer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${vonageJwt(SECRET, body)}` },
      body: JSON.stringify({ uuid: uuid(3) }),
    });
    expect(tampered.status).toBe(401);
    expect(
      await postEvent(
        gateway.baseUrl,
        SECRET,
        { uuid: uuid(2), status: 'started' },
        { secret: 'x'.repeat(20) },
      ),
    ).toBe(401);
    expect((await gateway.get('/metrics')).body).toMatch(
      /voxline_ingress_refused_total\{ingress="vonage",reason="answer_jwt_signature"\} [1-9]/,
    );
  });

  it('a signed answer without a call uuid is a 400', async () => {
    const response = await fetch(`${gateway.baseUrl}/vonage/answer?to=1`, {
      headers: { authorization: `Bearer ${vonageJwt(SECRET, JSON.stringify({ to: '1' }))}` },
    });
    expect(response.status).toBe(400);
  });

  it('a media upgrade with no, a forged, a re-signed or an expired token gets a plain 401 and no socket', async () => {
    const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: uuid(4) });
    const endpoint = websocketEndpoint(ncco);
    const base = endpoint.uri.split('?')[0];
    const otherCall = endpoint.uri.replace(uuid(4), uuid(5)); // the token is for uuid(4) only
    const forged = `${base}?${mediaQuery('another-secret-0123456789', { callSid: uuid(4), mode: 'transcribe', expiresAtS: nowS() + 60 })}`;
    const agent = endpoint.uri.replace('mode=transcribe', 'mode=agent');
    const expired = `${base}?${mediaQuery(SECRET, { callSid: uuid(4), mode: 'transcribe', expiresAtS: nowS() - 1 })}`;
    for (const uri of [base, otherCall, forged, agent, expired]) {
      const vonage = await VonageSocket.open(endpoint, { uri });
      expect(await vonage.closed).toMatchObject({ httpStatus: 401 });
    }
    expect(gateway.app.registry.get(uuid(4))).toBeUndefined();
    expect(gateway.app.registry.get(uuid(5))).toBeUndefined();
  });

  it('a media token opens its call once: the same URL again is refused, even after the call ended', async () => {
    const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: uuid(6) });
    const endpoint = websocketEndpoint(ncco);
    const first = await VonageSocket.open(endpoint);
    await eventually(() => expect(gateway.app.registry.get(uuid(6))).toBeDefined());
    await first.hangUp();
    const again = await VonageSocket.open(endpoint);
    expect(await again.closed).toMatchObject({ httpStatus: 401 });
  });

  it('malformed frames are counted on the call and contained; the call goes on and its audio is whole', async () => {
    const vonage = await liveCall(7);
    const other = await liveCall(8);
    await vonage.stream(new Int16Array(3200).fill(1000));
    vonage.sendRaw('{not json', false);
    vonage.sendRaw(JSON.stringify({ event: 'media', payload: 'x' }), false);
    vonage.sendRaw(JSON.stringify({ event: 'websocket:dtmf', digit: '55' }), false);
    vonage.sendRaw(
      JSON.stringify({ event: 'websocket:connected', 'content-type': 'audio/l16;rate=16000' }),
      false,
    );
    vonage.sendRaw(Buffer.alloc(641), true); // odd: the 320 whole samples are kept
    vonage.sendRaw(Buffer.alloc(40_000), true); // over 1 s in one frame
    vonage.sendRaw(JSON.stringify({ event: 'websocket:media:update' }), false); // Vonage's, ignored
    await vonage.stream(new Int16Array(3200).fill(1000));
    await other.stream(new Int16Array(3200));
    await vonage.hangUp();
    await other.hangUp();
    await eventually(async () => expect((await gateway.call(uuid(7))).state).toBe('ended'));
    const snapshot = await gateway.call(uuid(7));
    expect(snapshot.malformedMessages).toEqual({
      total: 6,
      byReason: {
        malformed_json: 1,
        unknown_event: 1,
        invalid_message: 1,
        duplicate_start: 1,
        odd_audio_length: 1,
        bad_payload_size: 1,
      },
    });
    expect(snapshot).toMatchObject({ endReason: 'hangup', legs: [{ audioSeconds: 0.42 }] });
    expect((await gateway.call(uuid(8))).malformedMessages.total).toBe(0);
  });

  it('too many malformed frames close the socket 1008; the call ends with the reason kept', async () => {
    const vonage = await liveCall(9);
    for (let i = 0; i < 25; i++) vonage.sendRaw('nope', false);
    expect((await vonage.closed).code).toBe(1008);
    await eventually(async () =>
      expect((await gateway.call(uuid(9))).endReason).toMatch(/^protocol_error: too many malformed/),
    );
  });

  it('audio before websocket:connected, an unsupported content-type, or another call in the headers: closed, no call', async () => {
    const cases: [number, Record<string, unknown> | false, number][] = [
      [10, false, 1008],
      [11, { 'content-type': 'audio/l16;rate=24000' }, 1003],
      [12, { voxlineCall: uuid(99) }, 1008],
    ];
    for (const [n, connected, code] of cases) {
      const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: uuid(n) });
      const vonage = await VonageSocket.open(websocketEndpoint(ncco), { connected });
      vonage.sendRaw(Buffer.alloc(640), true);
      expect((await vonage.closed).code).toBe(code);
      expect(gateway.app.registry.get(uuid(n))).toBeUndefined();
    }
  });
});
