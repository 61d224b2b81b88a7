import { type Static, Type } from '@sinclair/typebox';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';
import { isScope, RESERVED_ACTORS, type Scope } from './scopes.js';

/** One API token as configured: its name, its scopes and the SHA-256 of the token (never the token). */
export interface ApiTokenConfig {
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** Lower-case hex SHA-256 of the token's UTF-8 bytes. */
  readonly sha256: string;
}

export interface AccessConfig {
  readonly apiTokens: readonly ApiTokenConfig[];
  readonly audit: {
    /** Audit entries are deleted this long after they were written, in days. */
    readonly retentionDays: number;
    /** At most this many entries are kept: the oldest beyond it go at the hourly prune. */
    readonly maxEntries: number;
  };
}

export const AccessEnvProperties = {
  API_TOKENS: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'scoped bearer tokens as `name:scope+scope:sha256hex`, comma-separated (npm run token:new)',
    }),
  ),
  AUDIT_RETENTION_DAYS: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 36_500,
      description: 'audit entries are deleted this long after they were written (hourly)',
    }),
  ),
  AUDIT_MAX_ENTRIES: Type.Integer({
    minimum: 1_000,
    maximum: 1_000_000_000,
    default: 1_000_000,
    description: 'most audit entries kept; the oldest beyond it are deleted (hourly)',
  }),
};
const AccessEnv = Type.Object(AccessEnvProperties);
type AccessEnv = Static<typeof AccessEnv> & { readonly CALL_RETENTION_DAYS: number };

/** What every token from `npm run token:new` starts with (so that one pasted by mistake is recognised). */
export const TOKEN_PREFIX = 'vxl_';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * API_TOKENS parsed and checked. A problem names the entry by its position and name, never by its
 * hash or what was pasted in its place (a token pasted where its hash goes must not reach a log).
 */
export function accessConfigFrom(e: AccessEnv): ConfigPart<AccessConfig> {
  const problems: string[] = [];
  const apiTokens: ApiTokenConfig[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  commaList(e.API_TOKENS).forEach((entry, i) => {
    const parts = entry.split(':');
    const name = parts[0] ?? '';
    // The name is shown only where it cannot be a token pasted in the wrong place.
    const shownName = parts.length === 3 && NAME.test(name) && !name.startsWith(TOKEN_PREFIX);
    const label = shownName ? `entry ${i + 1} (${name})` : `entry ${i + 1}`;
    const problem = (what: string) => problems.push(`API_TOKENS: ${label}: ${what}`);
    if (parts.length !== 3) {
      problem(`expected name:scope+scope:sha256 (got ${parts.length} part${parts.length === 1 ? '' : 's'})`);
      return;
    }
    const [, scopeList, hash] = parts;
    let ok = true;
    if (!NAME.test(name) || name.startsWith(TOKEN_PREFIX)) {
      problem(
        `the name must be 1–64 of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or digit, and not ${TOKEN_PREFIX}… (a token)`,
      );
      ok = false;
    } else if ((RESERVED_ACTORS as readonly string[]).includes(name.toLowerCase())) {
      problem(
        `"${name}" is reserved (${RESERVED_ACTORS.join(', ')} name the admin token, the console and open access)`,
      );
      ok = false;
    } else if (names.has(name)) {
      problem('another entry has the same name: the audit log could not tell them apart');
      ok = false;
    }
    const scopes = scopeList.split('+').map((s) => s.trim());
    if (!scopes.every(isScope)) {
      // Echoed only when it looks like a misspelt scope: it could be a pasted token.
      const unknown = scopes.filter((s) => !isScope(s));
      const shown = unknown.every((s) => /^[a-z]{1,16}$/.test(s)) ? ` (got ${unknown.join(', ')})` : '';
      problem(`scopes are read, recordings and admin, joined with "+"${shown}`);
      ok = false;
    }
    if (!SHA256_HEX.test(hash)) {
      problem(
        `the third part must be the token's SHA-256 in hex, 64 characters (got ${hash.length}); the token itself never goes here`,
      );
      ok = false;
    } else if (hashes.has(hash.toLowerCase())) {
      problem('another entry has the same hash: one token would have two names');
      ok = false;
    }
    if (!ok) return;
    names.add(name);
    hashes.add(hash.toLowerCase());
    apiTokens.push({ name, scopes: [...new Set(scopes as Scope[])], sha256: hash.toLowerCase() });
  });
  return {
    value: {
      apiTokens,
      audit: {
        retentionDays: e.AUDIT_RETENTION_DAYS ?? e.CALL_RETENTION_DAYS,
        maxEntries: e.AUDIT_MAX_ENTRIES,
      },
    },
    problems,
    warnings: [],
  };
}
