import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS, type AuditEntry, type AuditLog } from '../audit/audit-log.js';
import type { AccessGuard } from './access-guard.js';

export interface AuditRoutesOptions {
  readonly audit: AuditLog;
  readonly guard: AccessGuard;
}

const Query = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  callSid: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
});

interface QueryString {
  limit?: number;
  before?: number;
  callSid?: string;
  actor?: string;
  action?: string;
}

/**
 * GET /v1/audit (scope admin): entries newest first, `?limit=` (default 100, up to 1000),
 * `&callSid=`, `&actor=`, `&action=`, and `&before=<id>` for the next page (`next` in the answer).
 * Reading it is an entry too (audit.read): the answer includes it, still in progress.
 */
export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  const { audit, guard } = options;
  guard.attach(app);
  app.get<{ Querystring: QueryString }>(
    '/v1/audit',
    {
      schema: { querystring: Query },
      preValidation: guard.require({ scope: 'admin', action: 'audit.read', audited: true }),
    },
    async (request) => {
      const { limit = 100, ...filters } = request.query;
      const entries = await audit.list({ limit, ...filters });
      return {
        entries: entries.map(view),
        next: entries.length === limit ? (entries.at(-1)?.id ?? null) : null,
      };
    },
  );
}

function view(entry: AuditEntry) {
  return { ...entry, at: new Date(entry.at).toISOString() };
}
