import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export interface HealthRoutesOptions {
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}

/** GET /healthz (503 while draining, so load balancers stop sending calls) and GET /metrics. */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const { registry, metrics } = options;

  app.get('/healthz', async (_request, reply) => {
    const body = { status: registry.draining ? 'draining' : 'ok', liveCalls: registry.liveCount };
    return reply.code(registry.draining ? 503 : 200).send(body);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
