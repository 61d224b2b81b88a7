import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance } from 'fastify';
import { VoxlineError } from '../../errors.js';
import type { ConsoleAccess } from '../../http/console-access.js';
import { type BrowserEdgeContext, BrowserSession } from './browser-session.js';

export interface BrowserRoutesOptions {
  readonly access: ConsoleAccess;
  readonly edge: BrowserEdgeContext;
}

export const BROWSER_CALL_PATH = '/browser/call';

/**
 * GET /browser/call: a call from the console page. The upgrade needs a console session and an
 * Origin of this host (or the admin bearer token, for scripts); anything else gets a plain 401 and
 * never a socket, as does every request while voxline drains (503) or is full.
 */
export async function browserRoutes(app: FastifyInstance, options: BrowserRoutesOptions): Promise<void> {
  const { access, edge } = options;
  app.get(
    BROWSER_CALL_PATH,
    {
      websocket: true,
      preValidation: async (request) => {
        if (!access.allowsUpgrade(request)) {
          edge.metrics.ingress.refused.inc({ ingress: 'browser', reason: 'unauthorized' });
          throw new VoxlineError(
            'VL_ERR_UNAUTHORIZED',
            'a console session (from this host) or the admin token',
          );
        }
        try {
          edge.registry.assertAccepting();
        } catch (err) {
          if (err instanceof VoxlineError)
            edge.metrics.ingress.refused.inc({ ingress: 'browser', reason: err.code });
          throw err;
        }
      },
    },
    (socket, request) => {
      new BrowserSession(socket, edge, request.log.child({ ingress: 'browser' }));
    },
  );
}
