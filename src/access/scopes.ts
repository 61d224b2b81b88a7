/**
 * What a credential may do. `read`: calls, transcripts (and their live events), webhook
 * deliveries; `recordings`: the calls' audio; `admin`: pause and resume, webhook retries, erasure,
 * the audit log and browser calls. No scope implies another: a token gets exactly what it lists.
 */
export const SCOPES = ['read', 'recordings', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who made a request: the name the audit log shows, how they proved it, and what they may do. */
export interface Principal {
  /** An API token's name, or one of the reserved actors below. */
  readonly actor: string;
  readonly via: 'admin-token' | 'api-token' | 'session' | 'open';
  readonly scopes: ReadonlySet<Scope>;
}

/** Actor names an API token may not take, so that the audit log can always tell them apart. */
export const RESERVED_ACTORS = ['admin', 'console', 'anonymous'] as const;

const ALL: ReadonlySet<Scope> = new Set(SCOPES);

/** ADMIN_TOKEN as a bearer token: every scope, as before scopes existed. */
export const ADMIN: Principal = Object.freeze({ actor: 'admin', via: 'admin-token', scopes: ALL });
/** A console session: signed in with ADMIN_TOKEN, so the same scopes. */
export const CONSOLE: Principal = Object.freeze({ actor: 'console', via: 'session', scopes: ALL });
/** No ADMIN_TOKEN and no API_TOKENS: /v1 is open (with a warning at start), and still audited. */
export const ANONYMOUS: Principal = Object.freeze({ actor: 'anonymous', via: 'open', scopes: ALL });

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
