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
import { mixParam, rateParam } from './codec.js';
import type { FreeSwitchConfig } from './freeswitch-config.js';
import { type ForkParams, FreeSwitchSession } from './media-session.js';

/** mod_audio_fork's default sub-protocol; `MOD_AUDIO_FORK_SUBPROTOCOL_NAME` can rename it (then `?module=`). */
export const AUDIO_FORK_PROTOCOL = 'audio.drachtio.org';
const CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface FreeSwitchRoutesOptions {
  readonly config: FreeSwitchConfig;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
  /** The shared 20 ms ticker that paces agent audio (default: one for this edge). */
  readonly mediaClock?: MediaClock;
}

interface ForkQuery {
  rate?: string;
  sampleRate?: string;
  mix?: string;
  mode?: string;
  module?: string;
  call?: string;
}

/** The fork's parameters from its URL over the route's config, or why they cannot be taken. */
function forkParams(request: FastifyRequest, config: FreeSwitchConfig): ForkParams | string {
  const query = (request.query ?? {}) as ForkQuery;
  const rate = rateParam(query.rate ?? query.sampleRate);
  if (rate === 'bad') return 'rate: 8000, 16000, 8k or 16k';
  const mix = mixParam(query.mix);
  if (mix === 'bad') return 'mix: mono, stereo or mixed';
  if (query.mode !== undefined && query.mode !== 'agent' && query.mode !== 'transcribe')
    return 'mode: transcribe or agent';
  if (query.module !== undefined && query.module !== 'audio_stream' && query.module !== 'audio_fork')
    return 'module: audio_stream or audio_fork';
  if (query.call !== undefined && !CALL_ID.test(query.call)) return 'call: 1 to 64 of A-Z a-z 0-9 _ -';
  const mode: CallMode = (query.mode as CallMode | undefined) ?? config.mode;
  const resolvedMix = mix ?? config.mix;
  if (mode === 'agent' && resolvedMix !== 'mono') return 'agent mode takes mix=mono';
  const offered = String(request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  const module =
    query.module === 'audio_fork' || (query.module === undefined && offered.includes(AUDIO_FORK_PROTOCOL))
      ? 'mod_audio_fork'
      : 'mod_audio_stream';
  return { module, rate: rate ?? config.rate, mix: resolvedMix, mode, callSid: query.call };
}

/**
 * GET <FREESWITCH_STREAM_PATH> (the WebSocket both fork modules connect to). The shared secret
 * is checked before the upgrade (Basic, Bearer or ?token=), and so are the URL's parameters: a
 * refused fork gets a plain 401 or 400, never a socket.
 */
export async function freeSwitchRoutes(
  app: FastifyInstance,
  options: FreeSwitchRoutesOptions,
): Promise<void> {
  const { config, legs, media, registry, metrics } = options;
  const timers = options.clock ?? systemClock;
  const mediaClock = options.mediaClock ?? new MediaClock(timers);
  const checkSecret = requireSharedSecret({
    ingress: 'freeswitch',
    secret: config.secret,
    registry,
    metrics,
  });
  const params = new WeakMap<FastifyRequest, ForkParams>();

  app.get(
    config.path,
    {
      websocket: true,
      preValidation: async (request) => {
        await checkSecret(request);
        const taken = forkParams(request, config);
        if (typeof taken === 'string') {
          metrics.ingress.refused.inc({ ingress: 'freeswitch', reason: 'bad_stream_parameters' });
          request.log.warn({ problem: taken }, 'FreeSWITCH fork URL refused');
          throw new VoxlineError('VL_ERR_BAD_REQUEST', taken);
        }
        params.set(request, taken);
      },
    },
    (socket, request) => {
      const taken = params.get(request);
      if (!taken) {
        socket.close(1011, 'internal error'); // preValidation always sets it: never reached
        return;
      }
      new FreeSwitchSession(socket, {
        params: taken,
        legs,
        mixedLabel: config.mixedLabel,
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
