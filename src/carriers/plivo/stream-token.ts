import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CallMode } from '../carrier.js';

/**
 * The per-call token in the stream URL voxline answers with. Plivo's docs do not say that the
 * WebSocket upgrade is signed (nor over which URL), so the socket is authenticated by what
 * voxline itself put in the URL: the call, its mode and an expiry, MACed with the auth token.
 * The route checks it before the upgrade; the session then checks that `start.callId` is the
 * call the token was made for, so a token cannot open another call.
 */

/** How long a stream URL can be used to open its socket (Plivo connects right after the answer). */
export const STREAM_TOKEN_TTL_S = 600;

export interface StreamGrant {
  readonly callUuid: string;
  readonly mode: CallMode;
  /** Unix seconds. */
  readonly expiresAtS: number;
}

const CALL_UUID = /^[A-Za-z0-9-]{1,64}$/;

function mac(authToken: string, grant: StreamGrant): string {
  const text = `voxline-plivo-stream\n${grant.callUuid}\n${grant.mode}\n${grant.expiresAtS}`;
  return createHmac('sha256', authToken).update(text).digest('base64url');
}

export function isCallUuid(value: string): boolean {
  return CALL_UUID.test(value);
}

/** The query string (without `?`) that grants a stream for `callUuid`. */
export function streamQuery(authToken: string, callUuid: string, mode: CallMode, nowMs: number): string {
  const grant = { callUuid, mode, expiresAtS: Math.floor(nowMs / 1000) + STREAM_TOKEN_TTL_S };
  return new URLSearchParams({
    call: callUuid,
    mode,
    exp: String(grant.expiresAtS),
    token: mac(authToken, grant),
  }).toString();
}

export type GrantCheck =
  | { readonly ok: true; readonly grant: StreamGrant }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'expired' | 'bad_token' };

/** Checks the stream URL's query (as parsed by the router) at `nowMs`. */
export function checkStreamQuery(
  authToken: string,
  query: Readonly<Record<string, unknown>>,
  nowMs: number,
): GrantCheck {
  const { call, mode, exp, token } = query;
  if (call === undefined && token === undefined) return { ok: false, reason: 'missing' };
  if (
    typeof call !== 'string' ||
    !isCallUuid(call) ||
    (mode !== 'agent' && mode !== 'transcribe') ||
    typeof exp !== 'string' ||
    !/^[0-9]{1,12}$/.test(exp) ||
    typeof token !== 'string' ||
    token.length > 64
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const grant: StreamGrant = { callUuid: call, mode, expiresAtS: Number(exp) };
  const expected = Buffer.from(mac(authToken, grant));
  const given = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_token' };
  }
  // Checked after the MAC, so an expiry can only be reported for a token voxline made.
  if (grant.expiresAtS * 1000 < nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, grant };
}
