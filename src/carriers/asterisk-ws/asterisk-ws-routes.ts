import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { MediaClock } from '../media-clock.js';
import { requireSharedSecret } from '../stream-socket-session.js';
import type { AsteriskWsConfig } from './asterisk-ws-config.js';
import { AsteriskWsSession } from './media-session.js';

/** The sub-protocol chan_websocket speaks (websocket_client.conf `protocols = media`). */
export const MEDIA_PROTOCOL = 'media';
const MAX_URI_PARAMETERS = 16;

export interface AsteriskWsRoutesOptions {
  readonly config: AsteriskWsConfig;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
  /** The shared 20 ms ticker (default: one for this edge). */
  readonly mediaClock?: MediaClock;
}

interface Admitted {
  readonly mode: CallMode;
  readonly uriParameters: Record<string, string>;
}

/**
 * GET <ASTERISK_WS_PATH>: the WebSocket Asterisk opens for a `Dial(WebSocket/<client>/c(ulaw))`
 * (websocket_client.conf: `uri`, `protocols = media`, `username`/`password`). The secret is
 * checked before the upgrade; ws answers with the first sub-protocol offered, i.e. `media`.
 */
export async function asteriskWsRoutes(
  app: FastifyInstance,
  options: AsteriskWsRoutesOptions,
): Promise<void> {
  const { config, legs, media, registry, metrics } = options;
  const timers = options.clock ?? systemClock;
  const mediaClock = options.mediaClock ?? new MediaClock(timers);
  const checkSecret = requireSharedSecret({
    ingress: 'asterisk-ws',
    secret: config.secret,
    username: config.username,
    registry,
    metrics,
  });
  const admitted = new WeakMap<FastifyRequest, Admitted>();

  app.get(
    config.path,
    {
      websocket: true,
      preValidation: async (request) => {
        await checkSecret(request);
        const query = (request.query ?? {}) as Record<string, unknown>;
        const asked = query.mode;
        if (asked !== undefined && asked !== 'agent' && asked !== 'transcribe') {
          metrics.ingress.refused.inc({ ingress: 'asterisk-ws', reason: 'bad_stream_parameters' });
          throw new VoxlineError('VL_ERR_BAD_REQUEST', 'mode: transcribe or agent');
        }
        // The dial string's v(name=value,…) arrives as the query: kept as the call's parameters.
        const uriParameters: Record<string, string> = {};
        let kept = 0;
        for (const [key, value] of Object.entries(query)) {
          if (key === 'token' || key === 'mode' || typeof value !== 'string') continue;
          if (key.length > 64 || value.length > 256 || ++kept > MAX_URI_PARAMETERS) continue;
          uriParameters[key] = value;
        }
        admitted.set(request, { mode: (asked as CallMode | undefined) ?? config.mode, uriParameters });
      },
    },
    (socket, request) => {
      const taken = admitted.get(request);
      if (!taken) {
        socket.close(1011, 'internal error'); // preValidation always sets it: never reached
        return;
      }
      new AsteriskWsSession(socket, {
        ...taken,
        legs,
        media,
        registry,
        metrics,
        timers,
        mediaClock,
        log: request.log,
      });
    },
  );
}
