import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type ApiTokenConfig, TOKEN_PREFIX } from './access-config.js';
import type { Principal, Scope } from './scopes.js';

/** The SHA-256 of a token's UTF-8 bytes: what API_TOKENS holds. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * A new random token (256 bits, so a plain SHA-256 of it needs no salt or slow hash: nothing
 * short of the token itself finds it) and the API_TOKENS entry that admits it.
 */
export function newApiToken(name: string, scopes: readonly Scope[]): { token: string; entry: string } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, entry: `${name}:${scopes.join('+')}:${tokenDigest(token).toString('hex')}` };
}

/**
 * The configured API tokens, known only by their hashes. A presented token is hashed once and
 * compared with every hash in constant time, with no early exit: neither the time taken nor the
 * order of the list says how close a guess came, or which entry it was close to.
 */
export class ApiTokens {
  readonly #tokens: readonly { readonly principal: Principal; readonly digest: Buffer }[];

  constructor(tokens: readonly ApiTokenConfig[]) {
    this.#tokens = tokens.map((t) => ({
      principal: Object.freeze({ actor: t.name, via: 'api-token', scopes: new Set(t.scopes) }),
      digest: Buffer.from(t.sha256, 'hex'),
    }));
  }

  get size(): number {
    return this.#tokens.length;
  }

  /** The principal of the token whose SHA-256 is `digest`, if one is configured. */
  match(digest: Buffer): Principal | undefined {
    let found: Principal | undefined;
    for (const t of this.#tokens) {
      if (timingSafeEqual(digest, t.digest) && !found) found = t.principal;
    }
    return found;
  }
}
