import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator } from '../access/authenticator.js';
import type { Principal, Scope } from '../access/scopes.js';
import type { AuditAction, AuditLog, AuditOutcome, AuditRecord } from '../audit/audit-log.js';
import { VoxlineError } from '../errors.js';

/** What a route needs, and how it is named in the audit log. */
export interface RouteAccess {
  readonly scope: Scope;
  readonly action: AuditAction;
  /** Whether a request let through is recorded (reads of audio and transcripts, admin actions). */
  readonly audited: boolean;
  /** A WebSocket upgrade: a session counts only from a page of this host. */
  readonly upgrade?: boolean;
  /** What else the action is on, from the request (`delivery:42`). */
  readonly target?: (request: FastifyRequest) => string;
}

export interface AccessGuardOptions {
  readonly auth: Authenticator;
  readonly audit: AuditLog;
  readonly instance: string;
  readonly now: () => number;
}

/** A User-Agent or path longer than this is cut: the audit log is not a place to store bodies. */
const MAX_TEXT = 512;

interface Open {
  readonly id: number;
  callSid?: string;
  detail?: Readonly<Record<string, unknown>>;
}

/**
 * Scopes and the audit log, for every /v1 route (and browser calls). A route's preValidation hook
 * (`require`) finds who is asking (401 if nobody), refuses a missing scope (403, recorded), and for
 * an audited route writes its entry before the handler runs: if that write fails the request is
 * refused (503 VL_ERR_AUDIT_UNAVAILABLE) and nothing is read or changed, so no audited read can
 * happen unrecorded. The entry's status is set as the answer goes out (onSend; `settle` for
 * replies that bypass it: SSE, WebSocket upgrades). Refusals for want of a credential (401) are
 * not recorded: anyone could fill the log with them.
 */
export class AccessGuard {
  readonly #o: AccessGuardOptions;
  readonly #open = new WeakMap<FastifyRequest, Open>();

  constructor(options: AccessGuardOptions) {
    this.#o = options;
  }

  /** Adds the hook that completes entries to a routes plugin (its routes only, by encapsulation). */
  attach(app: FastifyInstance): void {
    app.addHook('onSend', async (request, reply, payload) => {
      await this.settle(request, reply.statusCode);
      return payload;
    });
  }

  /** The preValidation hook of a route needing `access`. */
  require(access: RouteAccess): (request: FastifyRequest) => Promise<void> {
    return async (request) => {
      await this.authorize(request, access);
    };
  }

  /** Throws VL_ERR_UNAUTHORIZED, VL_ERR_FORBIDDEN or VL_ERR_AUDIT_UNAVAILABLE; else lets it through. */
  async authorize(request: FastifyRequest, access: RouteAccess): Promise<Principal> {
    const { auth } = this.#o;
    const principal = access.upgrade ? auth.upgradePrincipal(request) : auth.principal(request);
    if (!principal) throw new VoxlineError('VL_ERR_UNAUTHORIZED');
    const record = this.#record(request, principal, access);
    if (!principal.scopes.has(access.scope)) {
      // Recorded, but a refusal needs no entry to stay a refusal.
      await this.#o.audit.append({ ...record, status: 403 }).catch((err: unknown) => {
        request.log.error({ err, action: access.action }, 'audit entry of a refusal could not be written');
      });
      throw new VoxlineError(
        'VL_ERR_FORBIDDEN',
        `${access.action} needs the ${access.scope} scope; ${principal.actor} has ${[...principal.scopes].join('+')}`,
      );
    }
    if (!access.audited) return principal;
    let id: number;
    try {
      id = await this.#o.audit.append(record);
    } catch (err) {
      request.log.error({ err, action: access.action }, 'audit log write failed: request refused');
      throw new VoxlineError('VL_ERR_AUDIT_UNAVAILABLE');
    }
    this.#open.set(request, { id });
    return principal;
  }

  /** Adds what the handler learnt (the call a delivery is of, what an erasure erased) to its entry. */
  note(
    request: FastifyRequest,
    facts: { callSid?: string; detail?: Readonly<Record<string, unknown>> },
  ): void {
    const open = this.#open.get(request);
    if (!open) return;
    if (facts.callSid !== undefined) open.callSid = facts.callSid;
    if (facts.detail !== undefined) open.detail = facts.detail;
  }

  /**
   * Completes the request's entry with the status answered (once). A failure here is logged: the
   * entry written before the handler ran stands, with its status unknown.
   */
  async settle(request: FastifyRequest, status: number): Promise<void> {
    const open = this.#open.get(request);
    if (!open) return;
    this.#open.delete(request);
    const outcome: AuditOutcome = {
      status,
      ...(open.callSid === undefined ? {} : { callSid: open.callSid }),
      ...(open.detail === undefined ? {} : { detail: open.detail }),
    };
    await this.#o.audit.settle(open.id, outcome).catch((err: unknown) => {
      request.log.error({ err, auditId: open.id }, 'audit entry could not be completed');
    });
  }

  #record(request: FastifyRequest, principal: Principal, access: RouteAccess): AuditRecord {
    const params = request.params as { callSid?: unknown } | undefined;
    const userAgent = request.headers['user-agent'];
    return {
      at: this.#o.now(),
      actor: principal.actor,
      action: access.action,
      callSid: typeof params?.callSid === 'string' ? params.callSid.slice(0, 128) : null,
      target: access.target ? access.target(request).slice(0, MAX_TEXT) : null,
      ip: request.ip,
      userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_TEXT) : null,
      method: request.method,
      // The query is left out: it is filters, and nothing in it is needed to say what was done.
      path: request.url.split('?')[0].slice(0, MAX_TEXT),
      instance: this.#o.instance,
      status: null,
      detail: null,
    };
  }
}
