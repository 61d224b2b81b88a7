import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/access/api-tokens.js';
import { AUDIT_ACTIONS } from '../../src/audit/audit-log.js';
import { BrowserCaller, signIn } from '../doubles/browser-caller.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';

/*
 * Every /v1 route (and browser calls) against every kind of credential: allowed or refused as
 * docs/http-api.md says, and each refusal for want of a scope, each read of a transcript or a
 * recording and each admin action in GET /v1/audit with who, what, which call and from where.
 */

const ADMIN_TOKEN = 'scopes-admin-token-0123456789';
const TOKENS = {
  reader: 'vxl_reader-0123456789abcdefghijklmnopqrstuvwxyzAB',
  listener: 'vxl_listener-0123456789abcdefghijklmnopqrstuvwxy',
  operator: 'vxl_operator-0123456789abcdefghijklmnopqrstuvwxy',
  auditor: 'vxl_auditor-0123456789abcdefghijklmnopqrstuvwxyz',
} as const;
const API_TOKENS = [
  `reader:read:${hex(TOKENS.reader)}`,
  `listener:recordings:${hex(TOKENS.listener)}`,
  `operator:admin:${hex(TOKENS.operator)}`,
  // Reads the audit log at the end, so that its own entry is not one the table looks for.
  `auditor:admin:${hex(TOKENS.auditor)}`,
].join(',');

function hex(token: string): string {
  return tokenDigest(token).toString('hex');
}

type Scope = 'read' | 'recordings' | 'admin';
interface Who {
  readonly actor: string;
  readonly scopes: readonly Scope[];
  readonly headers: Record<string, string>;
  /** For the browser call's upgrade. */
  readonly ws: { bearer?: string; cookie?: string; origin?: string };
}
interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'WS';
  readonly path: string;
  readonly scope: Scope;
  readonly action: (typeof AUDIT_ACTIONS)[number];
  readonly audited: boolean;
  /** What an allowed request answers. */
  readonly status: number;
  readonly callSid: string | null;
  readonly target?: string;
}

const ALL: Scope[] = ['read', 'recordings', 'admin'];

describe('scopes and the audit log, route by route', () => {
  let gateway: Gateway;
  let callSid: string;
  let who: Who[];
  let routes: Route[];
  const answered = new Map<string, number>();

  beforeAll(async () => {
    gateway = await startGateway({ ADMIN_TOKEN, API_TOKENS });
    ({ callSid } = await playDemo(gateway));
    const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
    await eventually(async () =>
      expect((await gateway.get(`/v1/calls/${callSid}`, bearer)).body.recording).not.toBeNull(),
    );
    const cookie = await signIn(gateway.baseUrl, ADMIN_TOKEN);
    const { csrf } = (await gateway.get('/console/api/session', { cookie })).body;
    const token = (actor: keyof typeof TOKENS, scopes: Scope[]): Who => ({
      actor,
      scopes,
      headers: { authorization: `Bearer ${TOKENS[actor]}` },
      ws: { bearer: TOKENS[actor] },
    });
    who = [
      token('reader', ['read']),
      token('listener', ['recordings']),
      token('operator', ['admin']),
      { actor: 'admin', scopes: ALL, headers: bearer, ws: { bearer: ADMIN_TOKEN } },
      {
        actor: 'console',
        scopes: ALL,
        headers: { cookie, 'x-voxline-csrf': csrf },
        ws: { cookie, origin: gateway.baseUrl },
      },
    ];
    const call = `/v1/calls/${callSid}`;
    routes = [
      {
        method: 'GET',
        path: '/v1/calls?state=all',
        scope: 'read',
        action: 'calls.list',
        audited: false,
        status: 200,
        callSid: null,
      },
      { method: 'GET', path: call, scope: 'read', action: 'call.read', audited: false, status: 200, callSid },
      {
        method: 'GET',
        path: `${call}/transcript`,
        scope: 'read',
        action: 'transcript.read',
        audited: true,
        status: 200,
        callSid,
      },
      // No analysis is configured in this gateway: 404, but past the scope check and recorded.
      {
        method: 'GET',
        path: `${call}/analysis`,
        scope: 'read',
        action: 'analysis.read',
        audited: true,
        status: 404,
        callSid,
      },
      {
        method: 'GET',
        path: `${call}/events`,
        scope: 'read',
        action: 'transcript.stream',
        audited: true,
        status: 200,
        callSid,
      },
      {
        method: 'GET',
        path: `${call}/recording`,
        scope: 'recordings',
        action: 'recording.read',
        audited: true,
        status: 200,
        callSid,
      },
      {
        method: 'GET',
        path: '/v1/webhooks/deliveries',
        scope: 'read',
        action: 'webhooks.list',
        audited: false,
        status: 200,
        callSid: null,
      },
      // The call has ended: 404 (not live here), but past the scope check and recorded.
      {
        method: 'POST',
        path: `${call}/pause`,
        scope: 'admin',
        action: 'call.pause',
        audited: true,
        status: 404,
        callSid,
      },
      {
        method: 'POST',
        path: `${call}/resume`,
        scope: 'admin',
        action: 'call.resume',
        audited: true,
        status: 404,
        callSid,
      },
      {
        method: 'POST',
        path: '/v1/webhooks/deliveries/7/retry',
        scope: 'admin',
        action: 'webhook.retry',
        audited: true,
        status: 404,
        callSid: null,
        target: 'delivery:7',
      },
      // A call that never was: nothing to erase (the erasure itself is test/compliance/erasure.test.ts).
      {
        method: 'DELETE',
        path: '/v1/calls/CAnobody',
        scope: 'admin',
        action: 'call.delete',
        audited: true,
        status: 404,
        callSid: 'CAnobody',
      },
      // An outbound call with no body: refused as a bad request once the scope has let it through.
      {
        method: 'POST',
        path: '/v1/calls',
        scope: 'admin',
        action: 'call.dial',
        audited: true,
        status: 400,
        callSid: null,
      },
      {
        method: 'POST',
        path: '/v1/calls/dial/dial_000000000000000000000000/cancel',
        scope: 'admin',
        action: 'call.cancel',
        audited: true,
        status: 404,
        callSid: null,
        target: 'dial:dial_000000000000000000000000',
      },
      {
        method: 'GET',
        path: '/v1/audit?limit=1',
        scope: 'admin',
        action: 'audit.read',
        audited: true,
        status: 200,
        callSid: null,
      },
      {
        method: 'WS',
        path: '/browser/call',
        scope: 'admin',
        action: 'browser.call',
        audited: true,
        status: 101,
        callSid: null,
      },
    ];
    for (const route of routes)
      for (const w of who) answered.set(`${w.actor} ${route.action}`, await send(route, w));
  });
  afterAll(() => gateway.close());

  async function send(route: Route, w: Pick<Who, 'headers' | 'ws'>): Promise<number> {
    if (route.method === 'WS') {
      const page = await BrowserCaller.connect(gateway.baseUrl, w.ws);
      if (!page.open) return (await page.closed).httpStatus ?? 0;
      page.socket.close();
      await page.closed;
      return 101;
    }
    const response = await fetch(`${gateway.baseUrl}${route.path}`, {
      method: route.method,
      headers: w.headers,
    });
    const body = await response.text();
    if (response.status === 403) expect(JSON.parse(body).error.code).toBe('VL_ERR_FORBIDDEN');
    return response.status;
  }

  it('covers every audited action name', () => {
    expect(routes.map((r) => r.action).sort()).toEqual([...AUDIT_ACTIONS].sort());
  });

  it('lets each credential through exactly the routes of its scopes, and refuses the rest with 403', () => {
    const table: string[] = [];
    const expected: string[] = [];
    for (const route of routes) {
      for (const w of who) {
        table.push(
          `${w.actor} ${route.method} ${route.path} → ${answered.get(`${w.actor} ${route.action}`)}`,
        );
        expected.push(
          `${w.actor} ${route.method} ${route.path} → ${w.scopes.includes(route.scope) ? route.status : 403}`,
        );
      }
    }
    expect(table).toEqual(expected);
  });

  it('answers 401 to no credential and to a wrong one, on every route, and records neither', async () => {
    const nobody = { headers: {}, ws: {} };
    const wrong = {
      headers: { authorization: 'Bearer vxl_not-a-token-0123456789' },
      ws: { bearer: 'vxl_nope' },
    };
    const hash = { headers: { authorization: `Bearer ${hex(TOKENS.reader)}` }, ws: {} };
    for (const route of routes) {
      for (const w of [nobody, wrong, hash])
        expect(`${route.path} ${await send(route, w)}`).toBe(`${route.path} 401`);
    }
    // A console session changing something without its CSRF header is no credential either.
    const { cookie } = who[4].headers;
    const forged = await fetch(`${gateway.baseUrl}/v1/calls/CAnobody`, {
      method: 'DELETE',
      headers: { cookie },
    });
    expect(forged.status).toBe(401);
    const { body } = await gateway.get('/v1/audit?limit=1000', { authorization: `Bearer ${TOKENS.auditor}` });
    expect(body.entries.filter((e: { status: number }) => e.status === 401)).toEqual([]);
  });

  it('records each refusal and each audited request let through: who, what, which call, from where, and the answer', async () => {
    const { status, body } = await gateway.get('/v1/audit?limit=1000', {
      authorization: `Bearer ${TOKENS.auditor}`,
    });
    expect(status).toBe(200);
    const entries = body.entries as Record<string, unknown>[];
    for (const route of routes) {
      for (const w of who) {
        const found = entries.filter((e) => e.actor === w.actor && e.action === route.action);
        const allowed = w.scopes.includes(route.scope);
        const label = `${w.actor} ${route.action}`;
        if (allowed && !route.audited) {
          expect(found, label).toEqual([]);
          continue;
        }
        expect(found, label).toHaveLength(1);
        expect(found[0], label).toMatchObject({
          actor: w.actor,
          action: route.action,
          callSid: route.callSid,
          target: route.target ?? null,
          ip: '127.0.0.1',
          method: route.method === 'WS' ? 'GET' : route.method,
          path: route.path.split('?')[0],
          status: allowed ? route.status : 403,
          instance: expect.any(String),
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        });
        // fetch sends a User-Agent, the ws client none.
        expect(found[0].userAgent, label).toEqual(route.method === 'WS' ? null : expect.any(String));
      }
    }
    // Newest first; the reading of the log itself is the newest, still in progress.
    expect(entries[0]).toMatchObject({ actor: 'auditor', action: 'audit.read', status: null });
    const ids = entries.map((e) => e.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  it('pages newest first, and filters by call, actor and action', async () => {
    const auditor = { authorization: `Bearer ${TOKENS.auditor}` };
    const first = await gateway.get(`/v1/audit?callSid=${callSid}&limit=3`, auditor);
    expect(first.body.entries).toHaveLength(3);
    expect(first.body.entries.every((e: { callSid: string }) => e.callSid === callSid)).toBe(true);
    const next = await gateway.get(`/v1/audit?callSid=${callSid}&limit=3&before=${first.body.next}`, auditor);
    expect(next.body.entries[0].id).toBeLessThan(first.body.entries[2].id);
    const reads = await gateway.get('/v1/audit?actor=listener&action=recording.read', auditor);
    expect(reads.body.entries.map((e: { status: number }) => e.status)).toEqual([200]);
    expect((await gateway.get('/v1/audit?action=nonsense', auditor)).status).toBe(400);
    expect((await gateway.get('/v1/audit?limit=0', auditor)).status).toBe(400);
  });

  it('keeps every token out of the log and the audit log', async () => {
    const { body } = await gateway.get('/v1/audit?limit=1000', { authorization: `Bearer ${TOKENS.auditor}` });
    const written = JSON.stringify(gateway.logs) + JSON.stringify(body);
    for (const secret of [ADMIN_TOKEN, ...Object.values(TOKENS)]) expect(written).not.toContain(secret);
    // Nor a cookie, nor a CSRF token.
    expect(written).not.toContain(who[4].headers.cookie.split('=')[1]);
    expect(written).not.toContain(who[4].headers['x-voxline-csrf']);
  });
});

describe('the audit log cannot be skipped', () => {
  it('refuses an audited read (503) when its entry cannot be written, and serves nothing of it', async () => {
    const gateway = await startGateway({ API_TOKENS: `reader:read:${hex(TOKENS.reader)}` });
    try {
      const { callSid } = await playDemo(gateway);
      const reader = { authorization: `Bearer ${TOKENS.reader}` };
      expect((await gateway.get(`/v1/calls/${callSid}/transcript`, reader)).status).toBe(200);
      // The table goes away under the running gateway: every write to it fails from now on.
      const db = new Database(join(gateway.config.dataDir, 'calls.db'));
      db.exec('DROP TABLE audit_log');
      db.close();
      for (const path of [`/v1/calls/${callSid}/transcript`, `/v1/calls/${callSid}/events`]) {
        const { status, body } = await gateway.get(path, reader);
        expect({ status, body }).toEqual({
          status: 503,
          body: {
            error: {
              code: 'VL_ERR_AUDIT_UNAVAILABLE',
              message: 'the audit log could not be written, so nothing was read or changed',
            },
          },
        });
      }
      expect(gateway.logs.filter((l) => l.msg === 'audit log write failed: request refused')).toHaveLength(2);
      // What is not audited goes on; what the token may not do is still refused (403).
      expect((await gateway.get(`/v1/calls/${callSid}`, reader)).status).toBe(200);
      expect((await gateway.get(`/v1/calls/${callSid}/recording`, reader)).status).toBe(403);
    } finally {
      await gateway.close();
    }
  });

  it('records open access too (no credential configured): the actor is anonymous', async () => {
    const gateway = await startGateway({});
    try {
      const { callSid } = await playDemo(gateway);
      expect((await gateway.get(`/v1/calls/${callSid}/transcript`)).status).toBe(200);
      const { body } = await gateway.get(`/v1/audit?callSid=${callSid}`);
      expect(body.entries).toMatchObject([
        { actor: 'anonymous', action: 'transcript.read', status: 200, callSid },
      ]);
    } finally {
      await gateway.close();
    }
  });
});
