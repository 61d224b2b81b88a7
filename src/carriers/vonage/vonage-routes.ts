import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { MediaClock } from '../media-clock.js';
import { CALL_HEADER, VonageMediaSession } from './media-session.js';
import {
  checkMediaQuery,
  MEDIA_TOKEN_TTL_S,
  type MediaGrant,
  mediaQuery,
  UsedTokens,
} from './media-token.js';
import { answerParams, eventBody } from './messages.js';
import { buildNcco } from './ncco.js';
import type { VonageConfig } from './vonage-config.js';
import { queryPayload, verifyVonageJwt } from './webhook-jwt.js';

export interface VonageRoutesOptions {
  readonly config: VonageConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Wall time for JWT and media-token expiry, and the handshake timer (default: the system clock). */
  readonly clock?: Clock;
  /** The shared 20 ms ticker that paces agent audio (default: one for this edge). */
  readonly mediaClock?: MediaClock;
}

/** What the JSON body parser of these routes keeps: Vonage hashes the body as sent. */
interface RawJson {
  readonly raw: string;
  readonly value: unknown;
}

type ModeQuery = { mode?: string };

/**
 * GET|POST /vonage/answer (the NCCO), POST /vonage/event (status callbacks), GET /vonage/media
 * (the WebSocket). Webhooks are checked against Vonage's signed JWT first; the media URL carries a
 * per-call token voxline signed in the NCCO, checked before the upgrade, so a forged request gets
 * a plain 401 and never a socket.
 */
export async function vonageRoutes(app: FastifyInstance, options: VonageRoutesOptions): Promise<void> {
  const { config, publicUrl, legs, media, registry, metrics } = options;
  const clock = options.clock ?? systemClock;
  const mediaClock = options.mediaClock ?? new MediaClock();
  const usedTokens = new UsedTokens();
  /** What each media upgrade's checked token granted, from preValidation to the socket handler. */
  const grants = new WeakMap<FastifyRequest, MediaGrant>();
  const nowS = () => Math.floor(clock.wallNow() / 1000);

  // Encapsulated in this plugin: JSON bodies keep their raw text for `payload_hash`.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, {
        raw: body as string,
        value: body === '' ? {} : JSON.parse(body as string),
      } satisfies RawJson);
    } catch {
      done(new VoxlineError('VL_ERR_BAD_REQUEST', 'body is not JSON'), undefined);
    }
  });

  const requireVonageJwt = (route: string) =>
    async function checkJwt(request: FastifyRequest): Promise<void> {
      const body = request.body as RawJson | Record<string, string> | undefined;
      const payload =
        request.method === 'GET'
          ? queryPayload(request.url)
          : body && typeof (body as RawJson).raw === 'string'
            ? (body as RawJson).raw
            : '';
      const check = verifyVonageJwt(request.headers.authorization, {
        secret: config.signatureSecret,
        nowS: nowS(),
        payload,
        applicationId: config.applicationId,
      });
      if (!check.ok) {
        metrics.ingress.refused.inc({ ingress: 'vonage', reason: `${route}_jwt_${check.reason}` });
        request.log.warn({ route, reason: check.reason }, 'Vonage webhook signature rejected');
        throw new VoxlineError('VL_ERR_UNAUTHORIZED', `Vonage webhook JWT: ${check.reason}`);
      }
    };

  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    const query = (request.query ?? {}) as ModeQuery;
    const params = request.method === 'GET' ? query : (request.body as RawJson | undefined)?.value;
    if (!answerParams.Check(params)) {
      throw new VoxlineError('VL_ERR_BAD_REQUEST', 'the answer webhook needs the call uuid');
    }
    const asked = query.mode;
    const mode: CallMode = asked === 'agent' || asked === 'transcribe' ? asked : config.mode;
    const grant: MediaGrant = { callSid: params.uuid, mode, expiresAtS: nowS() + MEDIA_TOKEN_TTL_S };
    const headers: Record<string, string> = { [CALL_HEADER]: params.uuid };
    if (params.from) headers.from = params.from;
    if (params.to) headers.to = params.to;
    if (params.conversation_uuid) headers.conversationUuid = params.conversation_uuid;
    const origin = publicUrl();
    const { ncco, skippedHeaders } = buildNcco({
      mediaUrl: `${origin.replace(/^http/, 'ws')}/vonage/media?${mediaQuery(config.signatureSecret, grant)}`,
      eventUrl: `${origin}/vonage/event`,
      audioRate: config.audioRate,
      headers,
    });
    if (skippedHeaders.length > 0)
      request.log.warn({ skippedHeaders }, 'NCCO headers too long were left out');
    request.log.info({ callSid: params.uuid, mode }, 'answering Vonage call');
    return reply.type('application/json').send(ncco);
  };
  app.get('/vonage/answer', { preValidation: requireVonageJwt('answer') }, answer);
  app.post('/vonage/answer', { preValidation: requireVonageJwt('answer') }, answer);

  app.post('/vonage/event', { preValidation: requireVonageJwt('event') }, async (request, reply) => {
    const body = (request.body as RawJson | undefined)?.value;
    if (!eventBody.Check(body)) throw new VoxlineError('VL_ERR_BAD_REQUEST', 'not a Vonage event');
    const { uuid, status, conversation_uuid } = body;
    const call = uuid ? registry.get(uuid) : undefined;
    const detail: Record<string, string> = {};
    if (status) detail.status = status;
    if (conversation_uuid) detail.conversationUuid = conversation_uuid;
    call?.recordStatus(status ? `call-${status}` : 'unknown', detail);
    const level = status === 'failed' || status === 'rejected' ? 'warn' : 'info';
    request.log[level]({ callSid: uuid, status, known: call !== undefined }, 'Vonage event callback');
    return reply.code(204).send();
  });

  app.get(
    '/vonage/media',
    {
      websocket: true,
      preValidation: async (request) => {
        const check = checkMediaQuery(
          config.signatureSecret,
          request.query as Record<string, unknown>,
          nowS(),
        );
        if (!check.ok) {
          metrics.ingress.refused.inc({ ingress: 'vonage', reason: `media_token_${check.reason}` });
          request.log.warn({ route: 'media', reason: check.reason }, 'Vonage media token rejected');
          throw new VoxlineError('VL_ERR_UNAUTHORIZED', `Vonage media token: ${check.reason}`);
        }
        try {
          registry.assertAccepting();
        } catch (err) {
          if (err instanceof VoxlineError) metrics.callsRefused.inc({ reason: err.code });
          throw err;
        }
        const token = (request.query as { token: string }).token;
        if (!usedTokens.take(token, check.grant.expiresAtS, nowS())) {
          metrics.ingress.refused.inc({ ingress: 'vonage', reason: 'media_token_reused' });
          request.log.warn({ route: 'media', reason: 'reused' }, 'Vonage media token rejected');
          throw new VoxlineError('VL_ERR_UNAUTHORIZED', 'Vonage media token: already used');
        }
        grants.set(request, check.grant);
      },
    },
    (socket, request) => {
      const grant = grants.get(request);
      if (!grant) {
        socket.close(1011, 'internal error'); // preValidation always sets it: never reached
        return;
      }
      new VonageMediaSession(socket, {
        grant,
        legs,
        media,
        registry,
        metrics,
        clock: mediaClock,
        timers: clock,
        log: request.log,
      });
    },
  );
}
