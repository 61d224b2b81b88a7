import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance } from 'fastify';
import { isVoxlineError, VoxlineError } from '../../errors.js';
import type { AccessGuard, RouteAccess } from '../../http/access-guard.js';
import { type BrowserEdgeContext, BrowserSession } from './browser-session.js';

export interface BrowserRoutesOptions {
  /** Scope admin: a console session (its page on this host), ADMIN_TOKEN or an admin API token. */
  readonly guard: AccessGuard;
  readonly edge: BrowserEdgeContext;
}

export const BROWSER_CALL_PATH = '/browser/call';

const ACCESS: RouteAccess = { scope: 'admin', action: 'browser.call', audited: true, upgrade: true };

/**
 * GET /browser/call: a call from the console page. The upgrade needs a console session and an
 * Origin of this host (or a bearer token with the admin scope, for scripts); anything else gets a
 * plain 401 (403 for a token without the scope) and never a socket, as does every request while
 * voxline drains (503) or is full. Each upgrade let through is in the audit log (browser.call).
 */
export async function browserRoutes(app: FastifyInstance, options: BrowserRoutesOptions): Promise<void> {
  const { guard, edge } = options;
  guard.attach(app);
  app.get(
    BROWSER_CALL_PATH,
    {
      websocket: true,
      preValidation: async (request) => {
        try {
          await guard.authorize(request, ACCESS);
          // Refused here, the entry is completed with the 503 (onSend).
          edge.registry.assertAccepting();
        } catch (err) {
          if (isVoxlineError(err, 'VL_ERR_UNAUTHORIZED')) {
            edge.metrics.ingress.refused.inc({ ingress: 'browser', reason: 'unauthorized' });
            throw new VoxlineError(
              'VL_ERR_UNAUTHORIZED',
              'a console session (from this host) or a token with the admin scope',
            );
          }
          if (err instanceof VoxlineError)
            edge.metrics.ingress.refused.inc({ ingress: 'browser', reason: err.code });
          throw err;
        }
      },
    },
    (socket, request) => {
      void guard.settle(request, 101);
      new BrowserSession(socket, edge, request.log.child({ ingress: 'browser' }));
    },
  );
}
