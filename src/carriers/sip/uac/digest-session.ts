import type { SipResponse } from '../sip-message.js';
import { authorization, type DigestChallenge, pickChallenge } from './digest-client.js';

/** Challenges answered per attempt: a proxy's 407 and then the trunk's 401, no more. */
const MAX_AUTH_ROUNDS = 2;

export interface DigestCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * The digest challenges one outbound attempt has answered (RFC 3261 §22, RFC 2617): by kind
 * (401 or 407) and realm, each answered again on every retry with its nonce count going up.
 */
export class DigestSession {
  readonly #credentials: DigestCredentials | undefined;
  readonly #answered = new Map<
    string,
    { readonly header: string; readonly challenge: DigestChallenge; uses: number }
  >();
  #rounds = 0;

  constructor(credentials: DigestCredentials | undefined) {
    this.#credentials = credentials;
  }

  /** The Authorization headers for the next request (none before a challenge). */
  headers(method: string, uri: string): [string, string][] {
    const credentials = this.#credentials;
    if (!credentials) return [];
    // A nonce answered before is answered again with the next nc (RFC 2617 §3.2.2): no replay.
    return [...this.#answered.values()].map((c): [string, string] => [
      c.header,
      authorization(c.challenge, credentials, method, uri, ++c.uses),
    ]);
  }

  /** A 401 or 407: true when it can be answered (send the request again), else why not. */
  challenged(response: SipResponse): true | string {
    if (!this.#credentials) return 'the trunk asks for credentials and SIP_TRUNK_USER is not set';
    if (this.#rounds >= MAX_AUTH_ROUNDS) return 'credentials refused';
    const proxy = response.status === 407;
    const challenge = pickChallenge(
      response.headers.lines(proxy ? 'proxy-authenticate' : 'www-authenticate'),
    );
    if (typeof challenge === 'string') return challenge;
    const key = `${proxy}\u241f${challenge.realm}`;
    // Challenged again for a realm already answered, with a nonce that is not merely stale: the password is wrong.
    if (this.#answered.has(key) && !challenge.stale) return 'credentials refused';
    this.#rounds++;
    this.#answered.set(key, { header: proxy ? 'proxy-authorization' : 'authorization', challenge, uses: 0 });
    return true;
  }
}
