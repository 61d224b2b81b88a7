import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'voxline_session';
/** The header a signed-in page sends with every state-changing request (CSRF). */
export const CSRF_HEADER = 'x-voxline-csrf';
/** How long a console sign-in lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000;

/** How a request proved it may use the admin API. */
export type Credential = 'bearer' | 'session' | 'open';

/**
 * Who may use the admin API and the console: the admin bearer token, or a console session.
 *
 * A session is a cookie `expiry.nonce.mac`, signed with a key derived from ADMIN_TOKEN: stateless,
 * so any instance of a cluster that shares the token accepts it, and changing the token signs
 * every session out. The token itself is only ever in the sign-in form's body.
 */
export class ConsoleAccess {
  readonly #tokenDigest: Buffer | undefined;
  readonly #key: Buffer | undefined;
  readonly #now: () => number;

  constructor(adminToken: string | undefined, now: () => number) {
    this.#tokenDigest = adminToken ? digest(adminToken) : undefined;
    this.#key = adminToken
      ? createHmac('sha256', digest(adminToken)).update('voxline console session v1').digest()
      : undefined;
    this.#now = now;
  }

  /** False when no ADMIN_TOKEN is set: the API is open and the console will not sign anyone in. */
  get protected(): boolean {
    return this.#tokenDigest !== undefined;
  }

  /** Compares digests: equal lengths, and no early exit that would leak the token byte by byte. */
  tokenMatches(presented: string): boolean {
    if (!this.#tokenDigest) return false;
    return timingSafeEqual(digest(presented), this.#tokenDigest);
  }

  /** A new session's cookie value. */
  issue(): { value: string; expiresAt: number } {
    const expiresAt = this.#now() + SESSION_TTL_MS;
    const body = `${expiresAt}.${randomBytes(16).toString('hex')}`;
    return { value: `${body}.${this.#mac(body)}`, expiresAt };
  }

  /** The request's session, if it carries a valid unexpired one: its nonce and CSRF token. */
  session(request: FastifyRequest): { csrf: string; expiresAt: number } | undefined {
    if (!this.#key) return undefined;
    const value = cookie(request.headers.cookie, SESSION_COOKIE);
    const parts = value?.split('.') ?? [];
    if (parts.length !== 3) return undefined;
    const [expiry, nonce, mac] = parts;
    const expiresAt = Number(expiry);
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= this.#now() || !/^[0-9a-f]{32}$/.test(nonce)) {
      return undefined;
    }
    if (!equal(mac, this.#mac(`${expiry}.${nonce}`))) return undefined;
    return { csrf: this.#mac(`csrf.${nonce}`), expiresAt };
  }

  /**
   * How the request is allowed, or undefined when it is not. A session alone is enough to read;
   * to change anything it must also send its CSRF token in CSRF_HEADER, which a page on another
   * site cannot read or set.
   */
  credential(request: FastifyRequest): Credential | undefined {
    if (!this.#tokenDigest) return 'open';
    const header = request.headers.authorization ?? '';
    if (header.startsWith('Bearer ')) return this.tokenMatches(header.slice(7)) ? 'bearer' : undefined;
    const session = this.session(request);
    if (!session) return undefined;
    if (request.method === 'GET' || request.method === 'HEAD') return 'session';
    const csrf = request.headers[CSRF_HEADER];
    return typeof csrf === 'string' && equal(csrf, session.csrf) ? 'session' : undefined;
  }

  /**
   * For WebSocket upgrades from the page: a valid session and an Origin of this very host (a
   * browser sends the cookie on a cross-site WebSocket too, so the origin is what proves the page).
   */
  allowsUpgrade(request: FastifyRequest): boolean {
    if (!this.#tokenDigest) return false;
    const header = request.headers.authorization ?? '';
    if (header.startsWith('Bearer ')) return this.tokenMatches(header.slice(7));
    const origin = request.headers.origin;
    return this.session(request) !== undefined && typeof origin === 'string' && sameOrigin(request);
  }

  #mac(text: string): string {
    return createHmac('sha256', this.#key as Buffer)
      .update(text)
      .digest('base64url');
  }
}

/**
 * True when the request came from a page of this very host: Sec-Fetch-Site where the browser sends
 * it (every current one does), else the Origin. A request with neither is not from a browser page.
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'same-origin';
  const origin = request.headers.origin;
  if (typeof origin !== 'string') return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

function equal(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
