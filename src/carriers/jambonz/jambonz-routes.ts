import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { requireSharedSecret } from '../stream-socket-session.js';
import type { JambonzConfig } from './jambonz-config.js';
import { JambonzSession } from './media-session.js';

export interface JambonzRoutesOptions {
  readonly config: JambonzConfig;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * GET <JAMBONZ_STREAM_PATH> (the WebSocket the listen verb's url points at; jambonz offers the
 * `audio.jambonz.org` sub-protocol, which is echoed). The shared secret is checked before the
 * upgrade (wsAuth as HTTP Basic, or Bearer, or ?token=), and so is ?mode=: a refused listen gets a
 * plain 401 or 400, never a socket.
 */
export async function jambonzRoutes(app: FastifyInstance, options: JambonzRoutesOptions): Promise<void> {
  const { config, legs, media, registry, metrics } = options;
  const timers = options.clock ?? systemClock;
  const checkSecret = requireSharedSecret({
    ingress: 'jambonz',
    secret: config.secret,
    username: config.username,
    registry,
    metrics,
  });
  const modes = new WeakMap<FastifyRequest, CallMode>();

  app.get(
    config.path,
    {
      websocket: true,
      preValidation: async (request) => {
        await checkSecret(request);
        const mode = (request.query as { mode?: unknown } | undefined)?.mode;
        if (mode !== undefined && mode !== 'agent' && mode !== 'transcribe') {
          metrics.ingress.refused.inc({ ingress: 'jambonz', reason: 'bad_stream_parameters' });
          request.log.warn({ problem: 'mode' }, 'jambonz listen URL refused');
          throw new VoxlineError('VL_ERR_BAD_REQUEST', 'mode: transcribe or agent');
        }
        modes.set(request, mode ?? config.mode);
      },
    },
    (socket, request) => {
      new JambonzSession(socket, {
        mode: modes.get(request) ?? config.mode,
        legs,
        mixedLabel: config.mixedLabel,
        media,
        registry,
        metrics,
        timers,
        log: request.log,
      });
    },
  );
}
