import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ConsoleAccess, CSRF_HEADER, SESSION_COOKIE, SESSION_TTL_MS } from '../../src/http/console-access.js';

/** Runs `check` inside a real request carrying `headers`, so the access checks see what Fastify parses. */
async function withRequest<T>(
  headers: Record<string, string>,
  method: 'GET' | 'POST',
  check: (request: import('fastify').FastifyRequest) => T,
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

describe('console sessions', () => {
  const now = { ms: 1_700_000_000_000 };
  const access = new ConsoleAccess('the-admin-token', () => now.ms);
  const cookie = () => `${SESSION_COOKIE}=${access.issue().value}`;

  it('accepts the bearer token, and a session cookie to read; refuses anything else', async () => {
    expect(
      await withRequest({ authorization: 'Bearer the-admin-token' }, 'POST', (r) => access.credential(r)),
    ).toBe('bearer');
    expect(
      await withRequest({ authorization: 'Bearer nope' }, 'GET', (r) => access.credential(r)),
    ).toBeUndefined();
    expect(await withRequest({ cookie: cookie() }, 'GET', (r) => access.credential(r))).toBe('session');
    expect(await withRequest({}, 'GET', (r) => access.credential(r))).toBeUndefined();
  });

  it('lets a session change things only with its own CSRF token', async () => {
    const value = cookie();
    const csrf = await withRequest({ cookie: value }, 'GET', (r) => access.session(r)?.csrf);
    expect(csrf).toBeTruthy();
    expect(await withRequest({ cookie: value }, 'POST', (r) => access.credential(r))).toBeUndefined();
    expect(
      await withRequest({ cookie: value, [CSRF_HEADER]: 'forged' }, 'POST', (r) => access.credential(r)),
    ).toBeUndefined();
    const other = await withRequest({ cookie: cookie() }, 'GET', (r) => access.session(r)?.csrf);
    expect(other).not.toBe(csrf);
    expect(
      await withRequest({ cookie: value, [CSRF_HEADER]: csrf as string }, 'POST', (r) =>
        access.credential(r),
      ),
    ).toBe('session');
  });

  it('refuses an expired, tampered or foreign-token session', async () => {
    const value = cookie();
    const [expiry, nonce, mac] = value.split('=')[1].split('.');
    const later = `${SESSION_COOKIE}=${Number(expiry) + 60_000}.${nonce}.${mac}`;
    expect(await withRequest({ cookie: later }, 'GET', (r) => access.credential(r))).toBeUndefined();
    const other = new ConsoleAccess('another-token', () => now.ms);
    expect(await withRequest({ cookie: value }, 'GET', (r) => other.credential(r))).toBeUndefined();
    now.ms += SESSION_TTL_MS;
    expect(await withRequest({ cookie: value }, 'GET', (r) => access.credential(r))).toBeUndefined();
  });

  it('allows a WebSocket upgrade only with a session and an Origin of this host', async () => {
    const value = cookie();
    const host = 'voxline.example:8080';
    const upgrade = (headers: Record<string, string>) =>
      withRequest(headers, 'GET', (r) => access.allowsUpgrade(r));
    expect(await upgrade({ cookie: value, host, origin: `http://${host}` })).toBe(true);
    expect(await upgrade({ cookie: value, host, origin: 'https://evil.example' })).toBe(false);
    expect(await upgrade({ cookie: value, host })).toBe(false);
    expect(await upgrade({ host, origin: `http://${host}` })).toBe(false);
    expect(await upgrade({ authorization: 'Bearer the-admin-token' })).toBe(true);
  });

  it('with no ADMIN_TOKEN: the API is open, and no session or upgrade is ever allowed', async () => {
    const open = new ConsoleAccess(undefined, () => now.ms);
    expect(open.protected).toBe(false);
    expect(await withRequest({}, 'GET', (r) => open.credential(r))).toBe('open');
    expect(open.tokenMatches('')).toBe(false);
    expect(await withRequest({ origin: 'http://x' }, 'GET', (r) => open.allowsUpgrade(r))).toBe(false);
  });
});
