import type { FastifyInstance } from 'fastify';
import type { EngineReadiness } from '../asr/readiness.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { LoadGovernor, LoadState } from '../calls/load-governor.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export interface HealthRoutesOptions {
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly readiness: EngineReadiness | undefined;
  /** The load governor (absent: no overload is ever reported). */
  readonly governor?: Pick<LoadGovernor, 'state'>;
}

/**
 * GET /healthz (liveness; 503 while draining, so load balancers stop sending calls), GET /readyz
 * (the speech engine probed now: 503 with the reason per endpoint when none can serve), GET /metrics.
 * Overload shows in both, but only /readyz answers 503 for it: not ready for new calls. /healthz
 * stays 200: a liveness check that restarts the instance would cut its live calls.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const { registry, metrics, readiness, governor } = options;

  app.get('/healthz', async (_request, reply) => {
    const body = {
      status: registry.draining ? 'draining' : 'ok',
      liveCalls: registry.liveCount,
      ...(governor ? { overload: overloadView(governor.state, false) } : {}),
    };
    return reply.code(registry.draining ? 503 : 200).send(body);
  });

  app.get('/readyz', async (_request, reply) => {
    if (registry.draining) return reply.code(503).send({ ready: false, reason: 'draining' });
    if (governor?.state.overloaded)
      return reply
        .code(503)
        .send({ ready: false, reason: 'overloaded', overload: overloadView(governor.state, true) });
    if (!readiness) return { ready: true, engine: 'none' };
    const health = await readiness.probe();
    return reply.code(health.ready ? 200 : 503).send(health);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/** The governor's state as JSON; `detail` adds the latest sample and the limits. */
function overloadView(state: LoadState, detail: boolean): Record<string, unknown> {
  const view: Record<string, unknown> = { overloaded: state.overloaded };
  if (state.overloaded) {
    view.reason = state.reason;
    view.since = new Date(state.since ?? 0).toISOString();
    view.retryAfterS = state.limits.retryAfterS;
  }
  if (detail && state.last) {
    const { lagMs, cpuPercent, rssMb } = state.last;
    view.sample = {
      lagMs: Math.round(lagMs * 10) / 10,
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      rssMb: Math.round(rssMb),
    };
  }
  if (detail) {
    const { maxLagMs, maxCpuPercent, maxRssMb } = state.limits;
    view.limits = { maxLagMs, maxCpuPercent, maxRssMb };
  }
  return view;
}
