import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Call } from '../calls/call.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallStore, StoredCall } from '../calls/call-store.js';
import { VoxlineError } from '../errors.js';
import type { AccessGuard } from './access-guard.js';

export interface CallsRoutesOptions {
  readonly registry: CallRegistry;
  /** Who may call these routes (scope read; pause and resume: admin, audited). */
  readonly guard: AccessGuard;
  /** Calls of other instances (and of this one's past); undefined: only what this process holds. */
  readonly store?: CallStore;
  /** This instance's name on its calls. */
  readonly instance: string;
  /** Most records a list answers with. */
  readonly listLimit: number;
  readonly now: () => number;
}

/** A call this process holds, as the store would show it (its recording is known to the store). */
export function localRecord(
  call: Call,
  instance: string,
  now: number,
  recording: StoredCall['recording'] = null,
): StoredCall {
  return { ...call.snapshot(), instance: { id: instance, seenAt: new Date(now).toISOString() }, recording };
}

const ListQuery = Type.Object({
  state: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('ended'), Type.Literal('all')])),
});

/**
 * GET /v1/calls (live calls; ?state=ended|all for recent history) and GET /v1/calls/:callSid: the
 * calls this process holds, and with a call store every other instance's too (newest first).
 */
export async function callsRoutes(app: FastifyInstance, options: CallsRoutesOptions): Promise<void> {
  const { registry, store, instance, now, guard } = options;
  guard.attach(app);

  app.get<{ Querystring: { state?: 'live' | 'ended' | 'all' } }>(
    '/v1/calls',
    {
      schema: { querystring: ListQuery },
      preValidation: guard.require({ scope: 'read', action: 'calls.list', audited: false }),
    },
    async (request) => {
      const state = request.query.state ?? 'live';
      const at = now();
      const calls = [
        ...(state === 'ended' ? [] : registry.live()),
        ...(state === 'live' ? [] : registry.ended()),
      ];
      if (!store) return { calls: calls.map((call) => localRecord(call, instance, at)) };
      // What this process holds comes first, as ever (it is the freshest, and its recording is
      // the store's); then, newest first, the stored calls it does not hold: other instances',
      // and its own beyond CALL_HISTORY_LIMIT.
      const stored = new Map(
        (await store.listCalls(state, options.listLimit, at)).map((c) => [c.callSid, c]),
      );
      const local = calls.map((call) => localRecord(call, instance, at, stored.get(call.callSid)?.recording));
      const held = new Set([...registry.live(), ...registry.ended()].map((c) => c.callSid));
      const others = [...stored.values()].filter((c) => !held.has(c.callSid));
      return { calls: [...local, ...others.slice(0, Math.max(0, options.listLimit - local.length))] };
    },
  );

  // Secure mode for payments: recording writes silence and transcription stops until resumed.
  for (const action of ['pause', 'resume'] as const) {
    const access = { scope: 'admin', action: `call.${action}`, audited: true } as const;
    app.post<{ Params: { callSid: string } }>(
      `/v1/calls/:callSid/${action}`,
      { preValidation: guard.require(access) },
      async (request) => {
        const call = registry.get(request.params.callSid);
        if (call?.state !== 'live') {
          throw new VoxlineError(
            'VL_ERR_CALL_NOT_FOUND',
            `${request.params.callSid} is not live on this instance`,
          );
        }
        const changed = action === 'pause' ? call.pause('api') : call.resume('api');
        return { callSid: call.callSid, paused: call.paused, changed, pauses: call.pauses };
      },
    );
  }

  const readOne = guard.require({ scope: 'read', action: 'call.read', audited: false });
  app.get<{ Params: { callSid: string } }>(
    '/v1/calls/:callSid',
    { preValidation: readOne },
    async (request) => {
      const call = registry.get(request.params.callSid);
      if (call?.state === 'live') return localRecord(call, instance, now());
      if (call) {
        // Held here and ended: the store knows its recording; a store that is down costs only that.
        const stored = await store?.getCall(call.callSid, now()).catch(() => undefined);
        return localRecord(call, instance, now(), stored?.recording);
      }
      const stored = await store?.getCall(request.params.callSid, now());
      if (!stored) throw new VoxlineError('VL_ERR_CALL_NOT_FOUND', request.params.callSid);
      return stored;
    },
  );
}
