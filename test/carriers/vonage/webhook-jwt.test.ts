import { describe, expect, it } from 'vitest';
import { checkMediaQuery, mediaQuery, UsedTokens } from '../../../src/carriers/vonage/media-token.js';
import { queryPayload, verifyVonageJwt } from '../../../src/carriers/vonage/webhook-jwt.js';
import { vonageJwt } from '../../doubles/vonage-client.js';

/* The checks themselves, on a fixed clock: every refusal has its reason, and the edges of each window. */

const SECRET = 'vonage-signature-secret-0123456789';
const NOW = 1_800_000_000;
const BODY = '{"uuid":"u-1","to":"447700900000"}';
const check = (token: string, payload = BODY, applicationId?: string) =>
  verifyVonageJwt(`Bearer ${token}`, { secret: SECRET, nowS: NOW, payload, applicationId });

describe('Vonage webhook JWT', () => {
  it('accepts a token signed as Vonage signs, within the age and skew windows, and returns its claims', () => {
    for (const iat of [NOW, NOW - 300, NOW + 60]) {
      const result = check(vonageJwt(SECRET, BODY, { iat }), BODY, 'app-0000');
      expect(result).toMatchObject({ ok: true, claims: { iat, application_id: 'app-0000', iss: 'Vonage' } });
    }
  });

  it.each([
    ['issued 301 s ago', { iat: NOW - 301 }, 'too_old'],
    ['issued 61 s ahead', { iat: NOW + 61 }, 'issued_in_future'],
    ['expired beyond the skew', { iat: NOW, exp: NOW - 61 }, 'expired'],
    ['signed with another secret', { iat: NOW, secret: 'another-secret-000000' }, 'signature'],
    ['alg HS384', { iat: NOW, alg: 'HS384' }, 'algorithm'],
    ['another application', { iat: NOW, applicationId: 'app-1' }, 'application'],
    ['another payload hash', { iat: NOW, payloadHash: '00'.repeat(32) }, 'payload_hash'],
  ])('refuses a token %s', (_name, overrides, reason) => {
    expect(check(vonageJwt(SECRET, BODY, overrides), BODY, 'app-0000')).toEqual({ ok: false, reason });
  });

  it('refuses a missing header, a non-Bearer scheme, and tokens that are not three base64url parts', () => {
    const options = { secret: SECRET, nowS: NOW, payload: BODY };
    expect(verifyVonageJwt(undefined, options)).toEqual({ ok: false, reason: 'missing' });
    const token = vonageJwt(SECRET, BODY, { iat: NOW });
    for (const header of [
      `Basic ${token}`,
      `Bearer ${token}.x`,
      'Bearer a.b',
      `Bearer ${'a'.repeat(5000)}`,
      'Bearer a+b.c.d',
    ]) {
      expect(verifyVonageJwt(header, options)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('hashes a GET payload as the query in the order sent, compact JSON', () => {
    expect(queryPayload('/vonage/answer?to=44&from=33&uuid=u-1')).toBe(
      '{"to":"44","from":"33","uuid":"u-1"}',
    );
    expect(queryPayload('/vonage/answer')).toBe('{}');
    expect(queryPayload('/a?__proto__=x')).toBe('{"__proto__":"x"}');
  });
});

describe('Vonage media token', () => {
  const grant = { callSid: 'u-1', mode: 'agent' as const, expiresAtS: NOW + 60 };
  const query = Object.fromEntries(new URLSearchParams(mediaQuery(SECRET, grant)));

  it('binds the call, the mode and the expiry', () => {
    expect(checkMediaQuery(SECRET, query, NOW)).toEqual({ ok: true, grant });
    expect(checkMediaQuery(SECRET, { ...query, call: 'u-2' }, NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(checkMediaQuery(SECRET, { ...query, mode: 'transcribe' }, NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(checkMediaQuery(SECRET, { ...query, exp: String(NOW + 6000) }, NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(checkMediaQuery(SECRET, query, NOW + 61)).toEqual({ ok: false, reason: 'expired' });
    expect(checkMediaQuery(SECRET, { ...query, mode: ['agent'] }, NOW)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(checkMediaQuery(SECRET, {}, NOW)).toEqual({ ok: false, reason: 'missing' });
  });

  it('UsedTokens: one use each, expired entries forgotten, never more than its capacity', () => {
    const used = new UsedTokens(2);
    expect(used.take('a', NOW + 10, NOW)).toBe(true);
    expect(used.take('a', NOW + 10, NOW)).toBe(false);
    expect(used.take('b', NOW + 20, NOW)).toBe(true);
    expect(used.take('c', NOW + 30, NOW)).toBe(false); // full of live tokens: refused, not grown
    expect(used.take('c', NOW + 30, NOW + 11)).toBe(true); // 'a' expired and went
    expect(used.size).toBe(2);
  });
});
