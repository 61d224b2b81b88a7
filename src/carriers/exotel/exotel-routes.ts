import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { requireSharedSecret } from '../stream-socket-session.js';
import type { ExotelConfig } from './exotel-config.js';
import { ExotelSession } from './media-session.js';

export interface ExotelRoutesOptions {
  readonly config: ExotelConfig;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * GET /exotel/stream (the WebSocket a Voicebot or Stream applet's URL points at). Exotel signs
 * nothing: the shared secret is checked before the upgrade (the Basic password of
 * wss://user:secret@host/exotel/stream, or Bearer, or ?token=), and so is ?mode=: a refused
 * stream gets a plain 401 or 400, never a socket.
 */
export async function exotelRoutes(app: FastifyInstance, options: ExotelRoutesOptions): Promise<void> {
  const { config, legs, media, registry, metrics } = options;
  const timers = options.clock ?? systemClock;
  const checkSecret = requireSharedSecret({ ingress: 'exotel', secret: config.secret, registry, metrics });
  const modes = new WeakMap<FastifyRequest, CallMode>();

  app.get(
    '/exotel/stream',
    {
      websocket: true,
      preValidation: async (request) => {
        await checkSecret(request);
        const mode = (request.query as { mode?: unknown } | undefined)?.mode;
        if (mode !== undefined && mode !== 'agent' && mode !== 'transcribe') {
          metrics.ingress.refused.inc({ ingress: 'exotel', reason: 'bad_stream_parameters' });
          request.log.warn({ problem: 'mode' }, 'Exotel stream URL refused');
          throw new VoxlineError('VL_ERR_BAD_REQUEST', 'mode: transcribe or agent');
        }
        modes.set(request, mode ?? config.mode);
      },
    },
    (socket, request) => {
      new ExotelSession(socket, {
        mode: modes.get(request) ?? config.mode,
        legs,
        media,
        registry,
        metrics,
        timers,
        log: request.log,
      });
    },
  );
}
