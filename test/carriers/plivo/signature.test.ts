import { describe, expect, it } from 'vitest';
import {
  isValidPlivoSignature,
  plivoSignatureV3,
  plivoSignedBase,
} from '../../../src/carriers/plivo/signature.js';
import {
  checkStreamQuery,
  STREAM_TOKEN_TTL_S,
  streamQuery,
} from '../../../src/carriers/plivo/stream-token.js';
import { signV3 } from '../../doubles/plivo-client.js';

/*
 * Vectors derived by running the algorithm of Plivo's Python SDK (plivo/utils/signature_v3.py:
 * construct_post_url / construct_get_url / get_signature_v3) over these inputs, token
 * 'plivo-test-auth-token', nonce '12345678901234567890'.
 */
const TOKEN = 'plivo-test-auth-token';
const NONCE = '12345678901234567890';
const ANSWER = {
  CallUUID: 'c0ffee00-1111-2222-3333-444455556666',
  From: '14155550100',
  To: '14155550199',
  Direction: 'inbound',
};
const VECTORS: {
  method: 'GET' | 'POST';
  url: string;
  params: Record<string, string>;
  base: string;
  signature: string;
}[] = [
  {
    method: 'POST',
    url: 'https://voxline.example.com/plivo/answer',
    params: ANSWER,
    base: 'https://voxline.example.com/plivo/answer?CallUUIDc0ffee00-1111-2222-3333-444455556666DirectioninboundFrom14155550100To14155550199',
    signature: '9o6S3CTN9Z4vv7ixK1HmjSX2CyKERMEiuEFDoOxltLM=',
  },
  {
    method: 'POST',
    url: 'https://voxline.example.com/plivo/answer?mode=agent&b=2',
    params: { CallUUID: 'abc', From: '1' },
    base: 'https://voxline.example.com/plivo/answer?b=2&mode=agent.CallUUIDabcFrom1',
    signature: 'O9D5E17To2qSBEne7vEx3gj+WzxIbseMliJW6Pj2z/o=',
  },
  {
    method: 'POST',
    url: 'https://voxline.example.com/plivo/answer?mode=agent',
    params: {},
    base: 'https://voxline.example.com/plivo/answer?mode=agent',
    signature: 'LhuGs45KLnbhoHE8ihktGp4Mz9+imR62bf8SdF1eIKg=',
  },
  {
    method: 'GET',
    url: 'wss://voxline.example.com:8443/plivo/media?exp=1&call=abc',
    params: {},
    base: 'wss://voxline.example.com:8443/plivo/media?call=abc&exp=1',
    signature: 'WKMiMoOxyXEMGz15APk9ApLOOwtRTfdapSB61WLr7B0=',
  },
];

describe('Plivo signature V3', () => {
  it.each(VECTORS)('$method $url: the SDK-derived base string and signature', (v) => {
    expect(plivoSignedBase(v.method, v.url, v.params)).toBe(v.base);
    expect(plivoSignatureV3(TOKEN, v.base, NONCE)).toBe(v.signature);
    expect(isValidPlivoSignature(TOKEN, v.signature, NONCE, v.method, [v.url], v.params)).toBe(true);
  });

  it('agrees with the simulator, written separately from Plivo docs', () => {
    const v = VECTORS[1];
    expect(signV3(TOKEN, v.url, v.params, NONCE)).toBe(v.signature);
  });

  it('refuses another token, nonce, URL or field; takes any of several comma-separated signatures', () => {
    const v = VECTORS[0];
    const check = (token: string, sig: string, nonce: string, url: string, params: Record<string, string>) =>
      isValidPlivoSignature(token, sig, nonce, 'POST', [url], params);
    expect(check('other-token', v.signature, NONCE, v.url, v.params)).toBe(false);
    expect(check(TOKEN, v.signature, '1', v.url, v.params)).toBe(false);
    expect(check(TOKEN, v.signature, NONCE, 'https://evil.example.com/plivo/answer', v.params)).toBe(false);
    expect(check(TOKEN, v.signature, NONCE, v.url, { ...v.params, To: '14155550000' })).toBe(false);
    expect(check(TOKEN, v.signature, '', v.url, v.params)).toBe(false);
    expect(check(TOKEN, `bm90IGl0=,${v.signature}`, NONCE, v.url, v.params)).toBe(true);
    expect(check(TOKEN, 'x'.repeat(44), NONCE, v.url, v.params)).toBe(false);
    expect(isValidPlivoSignature(TOKEN, v.signature, NONCE, 'POST', ['not a url'], v.params)).toBe(false);
  });
});

describe('the per-call stream token', () => {
  const NOW = 1_780_000_000_000;
  const query = (text: string) => Object.fromEntries(new URLSearchParams(text));

  it('grants that call in that mode until it expires', () => {
    const q = query(streamQuery(TOKEN, 'c0ffee00-1111', 'agent', NOW));
    expect(checkStreamQuery(TOKEN, q, NOW)).toEqual({
      ok: true,
      grant: { callUuid: 'c0ffee00-1111', mode: 'agent', expiresAtS: NOW / 1000 + STREAM_TOKEN_TTL_S },
    });
    expect(checkStreamQuery(TOKEN, q, NOW + STREAM_TOKEN_TTL_S * 1000)).toMatchObject({ ok: true });
    expect(checkStreamQuery(TOKEN, q, NOW + STREAM_TOKEN_TTL_S * 1000 + 1000)).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('refuses a token moved to another call, mode or expiry, made with another key, or missing', () => {
    const q = query(streamQuery(TOKEN, 'c0ffee00-1111', 'transcribe', NOW));
    expect(checkStreamQuery(TOKEN, { ...q, call: 'c0ffee00-2222' }, NOW)).toEqual({
      ok: false,
      reason: 'bad_token',
    });
    expect(checkStreamQuery(TOKEN, { ...q, mode: 'agent' }, NOW)).toEqual({ ok: false, reason: 'bad_token' });
    expect(checkStreamQuery(TOKEN, { ...q, exp: String(Number(q.exp) + 9999) }, NOW)).toMatchObject({
      ok: false,
    });
    expect(checkStreamQuery('other', q, NOW)).toEqual({ ok: false, reason: 'bad_token' });
    expect(checkStreamQuery(TOKEN, {}, NOW)).toEqual({ ok: false, reason: 'missing' });
    expect(checkStreamQuery(TOKEN, { ...q, call: ['a', 'b'] }, NOW)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(checkStreamQuery(TOKEN, { ...q, exp: '1e9' }, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });
});
