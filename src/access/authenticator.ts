import type { FastifyRequest } from 'fastify';
import type { ConsoleAccess } from '../http/console-access.js';
import { type ApiTokens, tokenDigest } from './api-tokens.js';
import { ADMIN, ANONYMOUS, CONSOLE, type Principal } from './scopes.js';

/**
 * Who a request is: ADMIN_TOKEN or an API token as `Authorization: Bearer …`, or a console session
 * (signed in with ADMIN_TOKEN; with its CSRF header to change anything). With neither ADMIN_TOKEN
 * nor API_TOKENS configured, everyone is `anonymous` with every scope, as /v1 always was.
 */
export class Authenticator {
  readonly #console: ConsoleAccess;
  readonly #tokens: ApiTokens;

  constructor(consoleAccess: ConsoleAccess, tokens: ApiTokens) {
    this.#console = consoleAccess;
    this.#tokens = tokens;
  }

  /** False when no credential is configured at all: /v1 is open. */
  get protected(): boolean {
    return this.#console.protected || this.#tokens.size > 0;
  }

  /** The request's principal, or undefined when it proves nothing (401). */
  principal(request: FastifyRequest): Principal | undefined {
    if (!this.protected) return ANONYMOUS;
    const bearer = this.#bearer(request);
    if (bearer !== null) return bearer;
    // ConsoleAccess answers 'open' when it has no ADMIN_TOKEN: here API tokens guard /v1, so no.
    if (!this.#console.protected) return undefined;
    return this.#console.credential(request) === 'session' ? CONSOLE : undefined;
  }

  /** For WebSocket upgrades from the page: a bearer token, or a session from a page of this host. */
  upgradePrincipal(request: FastifyRequest): Principal | undefined {
    const bearer = this.#bearer(request);
    if (bearer !== null) return bearer;
    return this.#console.allowsUpgrade(request) ? CONSOLE : undefined;
  }

  /** null: no bearer token presented; undefined: one that matches nothing. */
  #bearer(request: FastifyRequest): Principal | undefined | null {
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return null;
    const presented = header.slice(7);
    // Both checks always run (constant time whichever matches).
    const admin = this.#console.tokenMatches(presented);
    const token = this.#tokens.match(tokenDigest(presented));
    return admin ? ADMIN : token;
  }
}
