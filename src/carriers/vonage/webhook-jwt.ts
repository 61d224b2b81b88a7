import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type JwtClaims, jwtClaims, jwtHeader } from './messages.js';

/**
 * Vonage's signed webhooks: `Authorization: Bearer <JWT>`, HS256 over the signature secret, whose
 * `payload_hash` claim is the SHA-256 (hex) of what was sent (messages.ts cites the docs). Checked
 * here with node:crypto alone: the algorithm is pinned (a token saying `none` or RS256 is refused,
 * whatever it carries), times are checked against an injected clock, and the hash must match.
 */

export interface JwtCheckOptions {
  readonly secret: string;
  /** Seconds since the Unix epoch. */
  readonly nowS: number;
  /** What Vonage hashed: the raw body (POST), or `queryPayload(...)` (GET). */
  readonly payload: string;
  /** When set, a token for another application is refused. */
  readonly applicationId?: string | undefined;
}

export type JwtCheck =
  | { readonly ok: true; readonly claims: JwtClaims }
  | { readonly ok: false; readonly reason: JwtRefusal };

export type JwtRefusal =
  | 'missing'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'claims'
  | 'issued_in_future'
  | 'too_old'
  | 'expired'
  | 'not_yet_valid'
  | 'application'
  | 'payload_hash';

/** How old a token may be: Vonage signs each webhook as it sends it (retries are re-signed). */
export const MAX_TOKEN_AGE_S = 300;
/** Clock skew allowed between Vonage and this host. */
export const CLOCK_SKEW_S = 60;
/** A token longer than this is not Vonage's (it keeps a handful of short claims). */
const MAX_TOKEN_LENGTH = 4096;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function verifyVonageJwt(authorization: string | undefined, options: JwtCheckOptions): JwtCheck {
  const refuse = (reason: JwtRefusal): JwtCheck => ({ ok: false, reason });
  if (!authorization) return refuse('missing');
  const match = /^Bearer ([^\s]+)$/i.exec(authorization.trim());
  const token = match?.[1];
  if (!token || token.length > MAX_TOKEN_LENGTH) return refuse('malformed');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return refuse('malformed');
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = parseJson(headerPart);
  if (!jwtHeader.Check(header)) return refuse('malformed');
  if (header.alg !== 'HS256') return refuse('algorithm');
  const expected = createHmac('sha256', options.secret).update(`${headerPart}.${claimsPart}`).digest();
  const given = Buffer.from(signaturePart, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('signature');

  const claims = parseJson(claimsPart);
  if (!jwtClaims.Check(claims)) return refuse('claims');
  const { nowS } = options;
  if (claims.iat > nowS + CLOCK_SKEW_S) return refuse('issued_in_future');
  if (claims.iat < nowS - MAX_TOKEN_AGE_S) return refuse('too_old');
  if (claims.exp !== undefined && claims.exp < nowS - CLOCK_SKEW_S) return refuse('expired');
  if (claims.nbf !== undefined && claims.nbf > nowS + CLOCK_SKEW_S) return refuse('not_yet_valid');
  if (options.applicationId !== undefined && claims.application_id !== options.applicationId) {
    return refuse('application');
  }
  const hash = createHash('sha256').update(options.payload, 'utf8').digest();
  if (!timingSafeEqual(hash, Buffer.from(claims.payload_hash.toLowerCase(), 'hex'))) {
    return refuse('payload_hash');
  }
  return { ok: true, claims };
}

/**
 * What Vonage hashes for a GET webhook: the query parameters as a JSON object without spaces, in
 * the order they were sent (a repeated name keeps its last value, as an object would).
 */
export function queryPayload(url: string): string {
  const at = url.indexOf('?');
  const params = new URLSearchParams(at === -1 ? '' : url.slice(at + 1));
  const object: Record<string, string> = Object.create(null); // `__proto__` is a key like any other
  for (const [key, value] of params) object[key] = value;
  return JSON.stringify(object);
}

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
