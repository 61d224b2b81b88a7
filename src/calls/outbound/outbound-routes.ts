import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance } from 'fastify';
import { VoxlineError } from '../../errors.js';
import type { AccessGuard } from '../../http/access-guard.js';
import type { OutboundCalls } from './outbound-calls.js';

export interface OutboundRoutesOptions {
  readonly outbound: OutboundCalls;
  /** Dialling and cancelling: scope admin, audited; reading an attempt: scope read. */
  readonly guard: AccessGuard;
}

/** An E.164 number (the + optional) or a SIP URI. */
const Address = Type.String({ pattern: '^(\\+?[0-9]{3,20}|sips?:[^\\s<>"]{3,250})$' });
const DEFAULT_RING_TIMEOUT_S = 30;

const DialBody = Type.Object(
  {
    to: Address,
    from: Address,
    mode: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')]),
    carrier: Type.Union([Type.Literal('twilio'), Type.Literal('telnyx'), Type.Literal('sip')]),
    parameters: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' }),
        Type.String({ maxLength: 400 }),
        {
          maxProperties: 20,
        },
      ),
    ),
    ringTimeoutS: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
    detectMachine: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
type DialBody = Static<typeof DialBody>;
const checkDialBody = TypeCompiler.Compile(DialBody);
/** Keys voxline sets on the call itself. */
const RESERVED_PARAMETER = /^(voxline|direction$)/;
const DialParams = Type.Object({ dialId: Type.String({ pattern: '^dial_[0-9a-f]{24}$' }) });

/**
 * POST /v1/calls (place an outbound call: 202 with the attempt), GET /v1/calls/dial/:dialId (the
 * attempt), POST /v1/calls/dial/:dialId/cancel (abandon it while it rings). The body is checked
 * here, whole and strictly (an unknown field is a 400, not dropped), before anything is dialled.
 */
export async function outboundRoutes(app: FastifyInstance, options: OutboundRoutesOptions): Promise<void> {
  const { outbound, guard } = options;
  guard.attach(app);

  app.post(
    '/v1/calls',
    { preValidation: guard.require({ scope: 'admin', action: 'call.dial', audited: true }) },
    async (request, reply) => {
      const body = readDialBody(request.body);
      const attempt = await outbound.dial({
        to: body.to,
        from: body.from,
        mode: body.mode,
        carrier: body.carrier,
        parameters: { ...body.parameters },
        ringTimeoutMs: (body.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S) * 1000,
        detectMachine: body.detectMachine ?? false,
      });
      guard.note(request, { detail: { dialId: attempt.id, carrier: attempt.carrier } });
      return reply
        .code(202)
        .send({ id: attempt.id, carrierCallId: attempt.carrierCallId, status: attempt.status });
    },
  );

  app.get<{ Params: { dialId: string } }>(
    '/v1/calls/dial/:dialId',
    {
      schema: { params: DialParams },
      preValidation: guard.require({ scope: 'read', action: 'call.read', audited: false }),
    },
    async (request) => {
      const attempt = outbound.get(request.params.dialId);
      if (!attempt) throw new VoxlineError('VL_ERR_DIAL_NOT_FOUND', request.params.dialId);
      return attempt;
    },
  );

  app.post<{ Params: { dialId: string } }>(
    '/v1/calls/dial/:dialId/cancel',
    {
      schema: { params: DialParams },
      preValidation: guard.require({
        scope: 'admin',
        action: 'call.cancel',
        audited: true,
        target: (request) => `dial:${(request.params as { dialId?: string }).dialId ?? ''}`,
      }),
    },
    async (request, reply) => reply.code(202).send(await outbound.cancel(request.params.dialId)),
  );
}

/** The body, or a 400 naming the first thing wrong with it. */
function readDialBody(body: unknown): DialBody {
  if (!checkDialBody.Check(body)) {
    const first = checkDialBody.Errors(body).First();
    const where = first?.path ? first.path.slice(1).replaceAll('/', '.') : 'body';
    throw new VoxlineError('VL_ERR_BAD_REQUEST', `${where || 'body'}: ${first?.message ?? 'invalid'}`);
  }
  const reserved = Object.keys(body.parameters ?? {}).find((name) => RESERVED_PARAMETER.test(name));
  if (reserved) throw new VoxlineError('VL_ERR_BAD_REQUEST', `parameters.${reserved}: set by voxline itself`);
  return body;
}
