import { createHash, randomBytes } from 'node:crypto';

/**
 * The client side of HTTP digest as SIP uses it (RFC 2617, RFC 7616 for SHA-256; RFC 3261 §22):
 * read a 401/407 challenge and answer it. Trunks ask for MD5 with `qop=auth`; the `-sess` forms
 * and SHA-256 cost nothing extra. `auth-int` (a hash of the body) is not offered.
 */

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque: string | undefined;
  readonly algorithm: DigestAlgorithm;
  /** `auth` when the server offered it; undefined for an RFC 2069 challenge (no qop). */
  readonly qop: 'auth' | undefined;
  readonly stale: boolean;
}

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  md5: 'MD5',
  'md5-sess': 'MD5-sess',
  'sha-256': 'SHA-256',
  'sha-256-sess': 'SHA-256-sess',
};
const MAX_PARAM_CHARS = 1024;

/** Parameters of a `Digest …` header value; undefined when it is not one. */
function digestParams(value: string): Map<string, string> | undefined {
  const m = /^\s*Digest\s+(.*)$/is.exec(value);
  if (!m) return undefined;
  const params = new Map<string, string>();
  for (const p of m[1].matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const v = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
    params.set(p[1].toLowerCase(), v);
  }
  return params;
}

/**
 * A challenge voxline can answer, or a reason it cannot. Several challenges (one per algorithm,
 * RFC 7616 §3.7) come as several header values: the first one answerable is taken.
 */
export function pickChallenge(values: readonly string[]): DigestChallenge | string {
  let why = 'no Digest challenge';
  // One header line may also carry several, comma-separated: split before each scheme name.
  for (const value of values.flatMap((v) => v.split(/,\s*(?=Digest\s)/i))) {
    const p = digestParams(value);
    if (!p) continue;
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    if (realm === undefined || !nonce) {
      why = 'a Digest challenge without realm or nonce';
      continue;
    }
    if (realm.length > MAX_PARAM_CHARS || nonce.length > MAX_PARAM_CHARS) {
      why = 'a Digest challenge with an oversized realm or nonce';
      continue;
    }
    const algorithm = ALGORITHMS[(p.get('algorithm') ?? 'MD5').toLowerCase()];
    if (!algorithm) {
      why = `unsupported digest algorithm ${JSON.stringify((p.get('algorithm') ?? '').slice(0, 20))}`;
      continue;
    }
    const offered = p
      .get('qop')
      ?.split(',')
      .map((q) => q.trim().toLowerCase());
    if (offered && !offered.includes('auth')) {
      why = 'the trunk asks for qop=auth-int only';
      continue;
    }
    const opaque = p.get('opaque');
    return {
      realm,
      nonce,
      opaque: opaque !== undefined && opaque.length <= MAX_PARAM_CHARS ? opaque : undefined,
      algorithm,
      qop: offered ? 'auth' : undefined,
      stale: p.get('stale')?.toLowerCase() === 'true',
    };
  }
  return why;
}

export interface DigestInput {
  readonly algorithm: DigestAlgorithm;
  readonly username: string;
  readonly password: string;
  readonly realm: string;
  readonly nonce: string;
  readonly method: string;
  readonly uri: string;
  readonly qop: 'auth' | undefined;
  /** Nonce count, 8 hex digits (`00000001`). */
  readonly nc: string;
  readonly cnonce: string;
}

/** The `response` value (RFC 2617 §3.2.2.1; RFC 7616 §3.4.1). */
export function digestResponse(d: DigestInput): string {
  const hash = (s: string) =>
    createHash(d.algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
      .update(s, 'utf8')
      .digest('hex');
  let ha1 = hash(`${d.username}:${d.realm}:${d.password}`);
  if (d.algorithm.endsWith('-sess')) ha1 = hash(`${ha1}:${d.nonce}:${d.cnonce}`);
  const ha2 = hash(`${d.method}:${d.uri}`);
  return d.qop
    ? hash(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`)
    : hash(`${ha1}:${d.nonce}:${ha2}`);
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** The Authorization / Proxy-Authorization value answering `challenge` for one request. */
export function authorization(
  challenge: DigestChallenge,
  credentials: { readonly username: string; readonly password: string },
  method: string,
  uri: string,
  nonceCount = 1,
  cnonce = randomBytes(8).toString('hex'),
): string {
  const nc = nonceCount.toString(16).padStart(8, '0');
  const response = digestResponse({
    algorithm: challenge.algorithm,
    username: credentials.username,
    password: credentials.password,
    realm: challenge.realm,
    nonce: challenge.nonce,
    method,
    uri,
    qop: challenge.qop,
    nc,
    cnonce,
  });
  const parts = [
    `username=${quote(credentials.username)}`,
    `realm=${quote(challenge.realm)}`,
    `nonce=${quote(challenge.nonce)}`,
    `uri=${quote(uri)}`,
    `response=${quote(response)}`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.qop) parts.push(`qop=${challenge.qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}
