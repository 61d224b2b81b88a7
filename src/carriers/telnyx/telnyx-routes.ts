import type { FastifyInstance } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { MediaLimits } from '../../config.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { LegLabels } from '../carrier.js';
import type { TelnyxConfig } from './telnyx-config.js';

export interface TelnyxRoutesOptions {
  readonly config: TelnyxConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}

/** Telnyx's routes: registered only when Telnyx is configured. */
export async function telnyxRoutes(_app: FastifyInstance, _options: TelnyxRoutesOptions): Promise<void> {}
