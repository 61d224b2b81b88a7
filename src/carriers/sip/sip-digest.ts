import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Digest authentication of inbound requests (RFC 2617 with `qop=auth`, MD5: what trunks and
 * PBXs use). Nonces are stateless: a timestamp and its HMAC under a per-process key, good for
 * five minutes.
 */
const NONCE_TTL_MS = 5 * 60_000;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export class DigestAuth {
  readonly realm: string;
  readonly #user: string;
  readonly #password: string;
  readonly #key = randomBytes(32);

  constructor(user: string, password: string, realm = 'voxline') {
    this.#user = user;
    this.#password = password;
    this.realm = realm;
  }

  /** The WWW-Authenticate value for a 401. */
  challenge(now = Date.now()): string {
    return `Digest realm="${this.realm}", nonce="${this.#nonce(now)}", algorithm=MD5, qop="auth"`;
  }

  /** True when `authorization` answers one of our nonces for `method` with the right password. */
  verify(authorization: string | undefined, method: string, now = Date.now()): boolean {
    if (!authorization || !/^Digest\s/i.test(authorization)) return false;
    const p = new Map<string, string>();
    for (const m of authorization.slice(7).matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) {
      p.set(m[1].toLowerCase(), m[2] ?? m[3]);
    }
    const nonce = p.get('nonce') ?? '';
    if (p.get('username') !== this.#user || p.get('realm') !== this.realm || !this.#fresh(nonce, now))
      return false;
    const ha1 = md5(`${this.#user}:${this.realm}:${this.#password}`);
    const ha2 = md5(`${method}:${p.get('uri') ?? ''}`);
    const qop = p.get('qop');
    const expected = qop
      ? md5(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:${qop}:${ha2}`)
      : md5(`${ha1}:${nonce}:${ha2}`);
    const given = Buffer.from(p.get('response') ?? '');
    return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
  }

  #nonce(now: number): string {
    const stamp = now.toString(16);
    return `${stamp}.${createHmac('sha256', this.#key).update(stamp).digest('hex').slice(0, 32)}`;
  }

  #fresh(nonce: string, now: number): boolean {
    const [stamp] = nonce.split('.');
    const issued = Number.parseInt(stamp, 16);
    return nonce === this.#nonce(issued) && now - issued >= 0 && now - issued < NONCE_TTL_MS;
  }
}
