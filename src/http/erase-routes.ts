import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { type ErasureDeps, eraseCall } from '../compliance/call-erasure.js';
import type { AccessGuard } from './access-guard.js';

export interface EraseRoutesOptions extends ErasureDeps {
  readonly guard: AccessGuard;
}

const Query = Type.Object({ force: Type.Optional(Type.Boolean()) });

/**
 * DELETE /v1/calls/:callSid (scope admin): the right to erasure. Erases the call's record and
 * transcript, its recording (file and object) and its webhook events, answers what it erased, and
 * keeps that in the call.delete audit entry (which itself stays: it holds no content of the call).
 */
export async function eraseRoutes(app: FastifyInstance, options: EraseRoutesOptions): Promise<void> {
  const { guard } = options;
  guard.attach(app);
  app.delete<{ Params: { callSid: string }; Querystring: { force?: boolean } }>(
    '/v1/calls/:callSid',
    {
      schema: { querystring: Query },
      preValidation: guard.require({ scope: 'admin', action: 'call.delete', audited: true }),
    },
    async (request) => {
      const { callSid } = request.params;
      // Each step is noted as it is done: an erasure that fails half way says how far it got.
      const erased = await eraseCall(options, callSid, { force: request.query.force === true }, (done) =>
        guard.note(request, { detail: structuredClone(done) }),
      );
      return { callSid, erased };
    },
  );
}
