import type { FastifyBaseLogger } from 'fastify';
import type { CallRegistry } from '../calls/call-registry.js';
import type { MediaLimits } from '../config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { LegLabels } from './carrier.js';
import type { MediaClock } from './media-clock.js';

/** What a carrier edge needs from the app: passed in, never global. */
export interface EdgeContext {
  readonly legs: LegLabels;
  readonly media: Pick<MediaLimits, 'handshakeTimeoutMs' | 'maxMalformedPerCall'>;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: FastifyBaseLogger;
  /** The shared 20 ms ticker for audio voxline paces itself. */
  readonly clock: MediaClock;
}
