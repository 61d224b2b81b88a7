import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The per-call token in the stream URL of voxline's TeXML answer. Telnyx signs its webhooks but
 * not the media WebSocket it opens, and TeXML's <Stream> has no auth attribute (Call Control's
 * `stream_auth_token` is a static header), so the answer that was Ed25519-verified mints a token
 * bound to that call: `<expiry s>.<base64url call id>.<base64url HMAC-SHA256>`. It is checked
 * before the upgrade; the start frame's call_control_id must then be the call it names.
 */

const MAX_TOKEN_LENGTH = 512;

export function mintStreamToken(secret: string, callSid: string, expiresAtS: number): string {
  const call = Buffer.from(callSid, 'utf8').toString('base64url');
  return `${expiresAtS}.${call}.${mac(secret, expiresAtS, call)}`;
}

export type TokenFailure = 'missing' | 'malformed' | 'expired' | 'bad_mac';

export type TokenCheck = { readonly callSid: string } | { readonly failure: TokenFailure };

/** The call the token was minted for, or why it is refused. `nowS`: wall clock, seconds. */
export function checkStreamToken(secret: string, token: string | undefined, nowS: number): TokenCheck {
  if (!token) return { failure: 'missing' };
  if (token.length > MAX_TOKEN_LENGTH) return { failure: 'malformed' };
  const match = /^([0-9]{1,12})\.([A-Za-z0-9_-]{1,256})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return { failure: 'malformed' };
  const [, expiry, call, given] = match as unknown as [string, string, string, string];
  const expected = Buffer.from(mac(secret, Number(expiry), call), 'utf8');
  const offered = Buffer.from(given, 'utf8');
  // Compared before the expiry, in constant time: a stale token tells nothing about the MAC.
  if (!timingSafeEqual(expected, offered)) return { failure: 'bad_mac' };
  if (Number(expiry) < nowS) return { failure: 'expired' };
  return { callSid: Buffer.from(call, 'base64url').toString('utf8') };
}

function mac(secret: string, expiresAtS: number, call: string): string {
  return createHmac('sha256', secret).update(`telnyx-stream|${expiresAtS}|${call}`).digest('base64url');
}
