import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import { VoxlineError } from '../errors.js';
import { requireAdminToken } from './admin-auth.js';

export interface CallsRoutesOptions {
  readonly registry: CallRegistry;
  readonly adminToken: string | undefined;
}

const ListQuery = Type.Object({
  state: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('ended'), Type.Literal('all')])),
});

/** GET /v1/calls (live calls; ?state=ended|all for recent history) and GET /v1/calls/:callSid. */
export async function callsRoutes(app: FastifyInstance, options: CallsRoutesOptions): Promise<void> {
  const { registry } = options;
  app.addHook('preValidation', requireAdminToken(options.adminToken));

  app.get<{ Querystring: { state?: 'live' | 'ended' | 'all' } }>(
    '/v1/calls',
    { schema: { querystring: ListQuery } },
    async (request) => {
      const state = request.query.state ?? 'live';
      const calls = [
        ...(state === 'ended' ? [] : registry.live()),
        ...(state === 'live' ? [] : registry.ended()),
      ];
      return { calls: calls.map((call) => call.snapshot()) };
    },
  );

  app.get<{ Params: { callSid: string } }>('/v1/calls/:callSid', async (request) => {
    const call = registry.get(request.params.callSid);
    if (!call) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', request.params.callSid);
    return call.snapshot();
  });
}
