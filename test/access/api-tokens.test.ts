import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ApiTokens, newApiToken, tokenDigest } from '../../src/access/api-tokens.js';
import { Authenticator } from '../../src/access/authenticator.js';
import { loadConfig } from '../../src/config.js';
import { ConsoleAccess, SESSION_COOKIE } from '../../src/http/console-access.js';
import { configError } from '../helpers/config.js';

const hash = (token: string) => tokenDigest(token).toString('hex');
const READER = 'vxl_reader-token-for-tests-0123456789abcdef';
const OPS = 'vxl_ops-token-for-tests-0123456789abcdef';

describe('API_TOKENS', () => {
  it('reads name:scope+scope:sha256 entries, comma-separated, the hash in either case', () => {
    const config = loadConfig({
      API_TOKENS: `reader:read:${hash(READER)}, ops:read+admin+recordings:${hash(OPS).toUpperCase()}`,
    });
    expect(config.access.apiTokens).toEqual([
      { name: 'reader', scopes: ['read'], sha256: hash(READER) },
      { name: 'ops', scopes: ['read', 'admin', 'recordings'], sha256: hash(OPS) },
    ]);
    expect(Object.isFrozen(config.access.apiTokens[0].scopes)).toBe(true);
    // Tokens but no ADMIN_TOKEN: /v1 is not open, and the warning says what is.
    expect(config.warnings).toContain(
      'ADMIN_TOKEN is not set: /v1 takes API_TOKENS only; the console signs no one in',
    );
    expect(config.warnings.join('\n')).not.toContain('open to anyone');
  });

  it('names every bad entry by position and name, never echoing a hash or a token pasted in its place', () => {
    const message = configError({
      API_TOKENS: [
        `reader:read:${READER}`, // the token where its hash goes
        `admin:read:${hash(OPS)}`,
        `ops:read+reed:${hash(OPS)}`,
        `ops2:read+${READER}:${hash('x')}`, // the token where the scopes go
        'lonely',
        READER, // the token on its own
        `dup:read:${hash('a')}`,
        `dup:read:${hash('b')}`,
        `twin:read:${hash('a')}`,
        `:read:${hash('c')}`,
      ].join(','),
    });
    expect(message.split('\n').slice(1)).toEqual([
      `  API_TOKENS: entry 1 (reader): the third part must be the token's SHA-256 in hex, 64 characters (got ${READER.length}); the token itself never goes here`,
      '  API_TOKENS: entry 2 (admin): "admin" is reserved (admin, console, anonymous name the admin token, the console and open access)',
      '  API_TOKENS: entry 3 (ops): scopes are read, recordings and admin, joined with "+" (got reed)',
      '  API_TOKENS: entry 4 (ops2): scopes are read, recordings and admin, joined with "+"',
      '  API_TOKENS: entry 5: expected name:scope+scope:sha256 (got 1 part)',
      '  API_TOKENS: entry 6: expected name:scope+scope:sha256 (got 1 part)',
      '  API_TOKENS: entry 8 (dup): another entry has the same name: the audit log could not tell them apart',
      '  API_TOKENS: entry 9 (twin): another entry has the same hash: one token would have two names',
      '  API_TOKENS: entry 10: the name must be 1–64 of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or digit, and not vxl_… (a token)',
    ]);
    expect(message).not.toContain(READER);
    expect(message).not.toContain(hash(OPS));
  });

  it('keeps the audit log as long as the call records unless told otherwise, and bounds its size', () => {
    expect(loadConfig({ CALL_RETENTION_DAYS: '14' }).access.audit).toEqual({
      retentionDays: 14,
      maxEntries: 1_000_000,
    });
    expect(
      loadConfig({ CALL_RETENTION_DAYS: '14', AUDIT_RETENTION_DAYS: '365', AUDIT_MAX_ENTRIES: '5000' }).access
        .audit,
    ).toEqual({ retentionDays: 365, maxEntries: 5000 });
    expect(configError({ AUDIT_MAX_ENTRIES: '10' })).toContain(
      'AUDIT_MAX_ENTRIES: expected an integer from 1000 to 1000000000 (got 10)',
    );
  });

  it('npm run token:new makes a random token whose entry loadConfig accepts', () => {
    const a = newApiToken('ci', ['read', 'recordings']);
    const b = newApiToken('ci', ['read', 'recordings']);
    expect(a.token).toMatch(/^vxl_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.entry).toBe(`ci:read+recordings:${hash(a.token)}`);
    expect(loadConfig({ API_TOKENS: a.entry }).access.apiTokens[0].name).toBe('ci');
  });
});

/** Runs `check` inside a real request carrying `headers`, so the checks see what Fastify parses. */
async function withRequest<T>(
  headers: Record<string, string>,
  check: (request: FastifyRequest) => T,
  method: 'GET' | 'POST' = 'GET',
): Promise<T> {
  const app = Fastify();
  let result: T | undefined;
  app.route({
    method,
    url: '/probe',
    handler: async (request) => {
      result = check(request);
      return {};
    },
  });
  await app.inject({ method, url: '/probe', headers });
  await app.close();
  return result as T;
}

describe('who a request is', () => {
  const now = () => 1_700_000_000_000;
  const tokens = new ApiTokens([
    { name: 'reader', scopes: ['read'], sha256: hash(READER) },
    { name: 'ops', scopes: ['read', 'admin'], sha256: hash(OPS) },
  ]);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('is the API token presented, ADMIN_TOKEN with every scope, or a console session with every scope', async () => {
    const access = new ConsoleAccess('the-admin-token-0123', now);
    const auth = new Authenticator(access, tokens);
    const who = (headers: Record<string, string>) =>
      withRequest(headers, (r) => {
        const p = auth.principal(r);
        return p && { actor: p.actor, via: p.via, scopes: [...p.scopes].sort() };
      });
    expect(await who(bearer(READER))).toEqual({ actor: 'reader', via: 'api-token', scopes: ['read'] });
    expect(await who(bearer(OPS))).toEqual({ actor: 'ops', via: 'api-token', scopes: ['admin', 'read'] });
    expect(await who(bearer('the-admin-token-0123'))).toEqual({
      actor: 'admin',
      via: 'admin-token',
      scopes: ['admin', 'read', 'recordings'],
    });
    const cookie = `${SESSION_COOKIE}=${access.issue().value}`;
    expect(await who({ cookie })).toEqual({
      actor: 'console',
      via: 'session',
      scopes: ['admin', 'read', 'recordings'],
    });
    // A hash is not a token; nor is a token with a character more; nor no token at all.
    expect(await who(bearer(hash(READER)))).toBeUndefined();
    expect(await who(bearer(`${READER}x`))).toBeUndefined();
    expect(await who({})).toBeUndefined();
  });

  it('is anonymous with every scope only when no credential is configured at all', async () => {
    const open = new Authenticator(new ConsoleAccess(undefined, now), new ApiTokens([]));
    expect(await withRequest({}, (r) => open.principal(r)?.actor)).toBe('anonymous');
    // API tokens alone protect /v1: no bearer, no access (and no console session to be had).
    const tokensOnly = new Authenticator(new ConsoleAccess(undefined, now), tokens);
    expect(tokensOnly.protected).toBe(true);
    expect(await withRequest({}, (r) => tokensOnly.principal(r))).toBeUndefined();
    expect(await withRequest(bearer(READER), (r) => tokensOnly.principal(r)?.actor)).toBe('reader');
  });

  it('compares a presented token with every configured hash', () => {
    // Every hash is compared whichever entry matches; no match is undefined.
    expect(tokens.match(tokenDigest(OPS))?.actor).toBe('ops');
    expect(tokens.match(tokenDigest(READER))?.actor).toBe('reader');
    expect(tokens.match(tokenDigest('nope'))).toBeUndefined();
  });
});
