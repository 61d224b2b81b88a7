import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { LegLabels } from '../carrier.js';
import type { PlivoConfig } from './plivo-config.js';

export interface PlivoRoutesOptions {
  readonly config: PlivoConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}

/** Plivo's routes: registered only when Plivo is configured. */
export async function plivoRoutes(_app: FastifyInstance, _options: PlivoRoutesOptions): Promise<void> {}
