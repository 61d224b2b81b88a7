import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { LegLabels } from '../carrier.js';
import type { VonageConfig } from './vonage-config.js';

export interface VonageRoutesOptions {
  readonly config: VonageConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}

/** Vonage's routes: registered only when Vonage is configured. */
export async function vonageRoutes(_app: FastifyInstance, _options: VonageRoutesOptions): Promise<void> {}
