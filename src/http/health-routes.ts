import type { FastifyInstance } from 'fastify';
import type { EngineReadiness } from '../asr/readiness.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export interface HealthRoutesOptions {
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly readiness: EngineReadiness | undefined;
}

/**
 * GET /healthz (liveness; 503 while draining, so load balancers stop sending calls), GET /readyz
 * (the speech engine probed now: 503 with the reason per endpoint when none can serve), GET /metrics.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const { registry, metrics, readiness } = options;

  app.get('/healthz', async (_request, reply) => {
    const body = { status: registry.draining ? 'draining' : 'ok', liveCalls: registry.liveCount };
    return reply.code(registry.draining ? 503 : 200).send(body);
  });

  app.get('/readyz', async (_request, reply) => {
    if (registry.draining) return reply.code(503).send({ ready: false, reason: 'draining' });
    if (!readiness) return { ready: true, engine: 'none' };
    const health = await readiness.probe();
    return reply.code(health.ready ? 200 : 503).send(health);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
