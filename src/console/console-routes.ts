import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { VoxlineError } from '../errors.js';
import { type ConsoleAccess, SESSION_COOKIE, SESSION_TTL_MS, sameOrigin } from '../http/console-access.js';
import type { ConsoleAssets } from './console-assets.js';
import { appPage, notBuiltPage, signInPage, unprotectedPage } from './console-pages.js';

/** What the page learns about this server once signed in (never a secret). */
export interface ConsoleInfo {
  readonly instance: string;
  readonly maxLiveCalls: number;
  /** Whether "Call" can talk to the voice agent (an LLM or agent webhook is configured, and an engine). */
  readonly agent: boolean;
  /** Whether calls are transcribed at all (an engine is configured). */
  readonly transcription: boolean;
  /** Whether this server takes calls from the page (the `browser` ingress at /browser/call). */
  readonly browserCalls: boolean;
  /** Whether refined transcripts are made after calls (the page then waits a while for one). */
  readonly postcall: boolean;
  /** Whether calls are analyzed after they end. */
  readonly analysis: boolean;
}

export interface ConsoleRoutesOptions {
  readonly access: ConsoleAccess;
  /** The built bundle; undefined when it was never built. */
  readonly assets: ConsoleAssets | undefined;
  /** Mark the cookie Secure (PUBLIC_URL is https, or the request came over https). */
  readonly secureCookies: boolean;
  readonly info: ConsoleInfo;
  /** Readiness, live calls against capacity and event-loop lag, for the Health page. */
  readonly health: () => Promise<object>;
  readonly now: () => number;
}

/** Failed sign-ins allowed per minute, from everyone together, before the form answers 429. */
const MAX_FAILED_SIGN_INS_PER_MINUTE = 20;

/**
 * The operator console: GET /console (sign-in form, or the app), POST /console/session (sign in:
 * sets an HttpOnly SameSite=Strict session cookie), POST /console/sign-out, GET /console/api/session
 * (the page's CSRF token and what this server offers), GET /console/api/health, and the bundle
 * under /console/assets/.
 */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const { access, assets } = options;
  const pageAssets = assets ? { css: assets.url('app.css'), js: assets.url('app.js') } : {};
  const failures = { minute: -1, count: 0 };

  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);

  app.get('/console/', async (_request, reply) => reply.redirect('/console', 301));

  app.get('/console', async (request, reply) => {
    if (!access.protected) return html(reply, 200, unprotectedPage(pageAssets));
    if (!assets) return html(reply, 503, notBuiltPage());
    if (!access.session(request)) return html(reply, 200, signInPage(pageAssets));
    return html(reply, 200, appPage({ css: assets.url('app.css'), js: assets.url('app.js') }));
  });

  app.post<{ Body: { token?: unknown } }>('/console/session', async (request, reply) => {
    if (!access.protected) return html(reply, 403, unprotectedPage(pageAssets));
    // A form on another site must not sign the browser in (login CSRF).
    if (!sameOrigin(request)) return html(reply, 403, signInPage(pageAssets, 'Sign in from this page.'));
    const minute = Math.floor(options.now() / 60_000);
    if (failures.minute !== minute) Object.assign(failures, { minute, count: 0 });
    if (failures.count >= MAX_FAILED_SIGN_INS_PER_MINUTE) {
      return html(reply, 429, signInPage(pageAssets, 'Too many wrong tokens: wait a minute and try again.'));
    }
    const token = typeof request.body?.token === 'string' ? request.body.token : '';
    if (!access.tokenMatches(token)) {
      failures.count++;
      request.log.warn('console sign-in refused: wrong token');
      return html(reply, 401, signInPage(pageAssets, 'That is not the admin token.'));
    }
    const session = access.issue();
    reply.header('set-cookie', sessionCookie(session.value, SESSION_TTL_MS / 1000, secure(request, options)));
    request.log.info('console sign-in');
    return reply.code(303).header('location', '/console').send();
  });

  app.post('/console/sign-out', async (request, reply) => {
    if (access.credential(request) !== 'session') throw new VoxlineError('VL_ERR_UNAUTHORIZED');
    reply.header('set-cookie', sessionCookie('', 0, secure(request, options)));
    return reply.code(204).send();
  });

  app.get('/console/api/session', async (request) => {
    const session = access.session(request);
    if (!session) throw new VoxlineError('VL_ERR_UNAUTHORIZED');
    return { csrf: session.csrf, expiresAt: new Date(session.expiresAt).toISOString(), ...options.info };
  });

  app.get('/console/api/health', async (request) => {
    if (!access.protected || !access.credential(request)) throw new VoxlineError('VL_ERR_UNAUTHORIZED');
    return options.health();
  });

  app.get<{ Params: { name: string } }>('/console/assets/:name', async (request, reply) => {
    const asset = assets?.get(request.params.name);
    if (!asset) throw new VoxlineError('VL_ERR_NOT_FOUND', request.params.name);
    reply.header('etag', asset.etag).header('cache-control', 'no-cache').type(asset.type);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  });
}

function secure(request: FastifyRequest, options: ConsoleRoutesOptions): boolean {
  return options.secureCookies || request.protocol === 'https';
}

function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}
