import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CallMode } from '../carrier.js';

/**
 * Vonage does not sign the WebSocket upgrade, so voxline signs the URL it puts in the NCCO: the
 * call's UUID, its mode and an expiry, under a key derived from the signature secret (never the
 * secret itself, so a token is useless as a webhook signature). The route checks it before the
 * upgrade; a token opens one call once (UsedTokens).
 */

/** Vonage connects the socket as soon as it runs the NCCO: a minute is ample. */
export const MEDIA_TOKEN_TTL_S = 60;

export interface MediaGrant {
  readonly callSid: string;
  readonly mode: CallMode;
  /** Seconds since the Unix epoch. */
  readonly expiresAtS: number;
}

function key(secret: string): Buffer {
  return createHmac('sha256', secret).update('voxline vonage media url v1').digest();
}

function mac(secret: string, grant: MediaGrant): Buffer {
  return createHmac('sha256', key(secret))
    .update(`${grant.callSid}\n${grant.mode}\n${grant.expiresAtS}`)
    .digest();
}

export function mintMediaToken(secret: string, grant: MediaGrant): string {
  return mac(secret, grant).toString('base64url');
}

/** The query string of a signed media URL. */
export function mediaQuery(secret: string, grant: MediaGrant): string {
  const params = new URLSearchParams({
    call: grant.callSid,
    mode: grant.mode,
    exp: String(grant.expiresAtS),
    token: mintMediaToken(secret, grant),
  });
  return params.toString();
}

export type MediaTokenCheck =
  | { readonly ok: true; readonly grant: MediaGrant }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'signature' | 'expired' };

/** Checks the query of a media upgrade (constant time over the MAC). */
export function checkMediaQuery(
  secret: string,
  query: Readonly<Record<string, unknown>>,
  nowS: number,
): MediaTokenCheck {
  const { call, mode, exp, token } = query;
  if (call === undefined || token === undefined) return { ok: false, reason: 'missing' };
  if (
    typeof call !== 'string' ||
    !/^[A-Za-z0-9-]{1,64}$/.test(call) ||
    (mode !== 'agent' && mode !== 'transcribe') ||
    typeof exp !== 'string' ||
    !/^[0-9]{1,12}$/.test(exp) ||
    typeof token !== 'string' ||
    !/^[A-Za-z0-9_-]{43}$/.test(token)
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const grant: MediaGrant = { callSid: call, mode, expiresAtS: Number(exp) };
  if (!timingSafeEqual(Buffer.from(token, 'base64url'), mac(secret, grant))) {
    return { ok: false, reason: 'signature' };
  }
  if (grant.expiresAtS < nowS) return { ok: false, reason: 'expired' };
  return { ok: true, grant };
}

/**
 * Tokens already used to open a call, until they expire: a URL copied from a log cannot open the
 * call again once it has ended. Bounded: expired entries go first (they were added in expiry
 * order); when it is full of live ones, new calls are refused rather than the set grown.
 */
export class UsedTokens {
  readonly #expiry = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /** Takes `token` (valid until `expiresAtS`); false when it was used already or the set is full. */
  take(token: string, expiresAtS: number, nowS: number): boolean {
    for (const [used, until] of this.#expiry) {
      if (until >= nowS) break;
      this.#expiry.delete(used);
    }
    if (this.#expiry.has(token) || this.#expiry.size >= this.#capacity) return false;
    this.#expiry.set(token, expiresAtS);
    return true;
  }

  get size(): number {
    return this.#expiry.size;
  }
}
