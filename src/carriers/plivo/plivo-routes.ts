import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { PlivoMediaSession } from './media-session.js';
import type { PlivoConfig } from './plivo-config.js';
import { buildAnswerXml } from './plivo-xml.js';
import { type FormParams, isValidPlivoSignature } from './signature.js';
import { checkStreamQuery, isCallUuid, type StreamGrant, streamQuery } from './stream-token.js';

export interface PlivoRoutesOptions {
  readonly config: PlivoConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Wall clock in ms, for the stream token's expiry (tests give their own). */
  readonly now?: () => number;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
}

/** Status callback fields kept on the call (the <Stream> statusCallbackUrl). */
const STATUS_FIELDS = ['Event', 'StreamID', 'Status', 'Error', 'Timestamp'];

const AnswerQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal('transcribe'), Type.Literal('agent')])),
});

/**
 * POST /plivo/answer (Plivo XML), POST /plivo/status (stream callbacks), GET /plivo/media (the
 * audio stream). The HTTP routes check X-Plivo-Signature-V3. The media route checks, before the
 * WebSocket upgrade, the per-call token voxline put in the stream URL (or a V3 signature over the
 * upgrade, if Plivo sends one), so a forged request gets a plain 403 and never a socket.
 */
export async function plivoRoutes(app: FastifyInstance, options: PlivoRoutesOptions): Promise<void> {
  const { config, publicUrl, legs, media, registry, metrics } = options;
  const now = options.now ?? Date.now;
  const timers = options.clock ?? systemClock;
  /** What each media request's token allows, from its check to its socket (gone with the request). */
  const grants = new WeakMap<FastifyRequest, StreamGrant>();

  const signedBy = (request: FastifyRequest, method: 'GET' | 'POST', urls: string[], params: FormParams) => {
    const signature = request.headers['x-plivo-signature-v3'];
    const nonce = request.headers['x-plivo-signature-v3-nonce'];
    if (typeof signature !== 'string' || typeof nonce !== 'string') return false;
    return isValidPlivoSignature(config.authToken, signature, nonce, method, urls, params);
  };

  const refuse = (request: FastifyRequest, route: string, why: string): never => {
    metrics.signatureRejections.inc({ route: `plivo_${route}` });
    request.log.warn({ route, why }, 'Plivo request refused');
    throw new VoxlineError('VL_ERR_CARRIER_SIGNATURE', `Plivo ${why}`);
  };

  const requireSignature = (route: string) =>
    async function checkSignature(request: FastifyRequest): Promise<void> {
      const params = formParams(request.body);
      if (!signedBy(request, 'POST', [`${publicUrl()}${request.url}`], params)) {
        refuse(request, route, 'X-Plivo-Signature-V3 missing or invalid');
      }
    };

  app.post<{ Querystring: { mode?: CallMode }; Body: Record<string, string | undefined> }>(
    '/plivo/answer',
    { schema: { querystring: AnswerQuery }, preValidation: requireSignature('answer') },
    async (request, reply) => {
      const callUuid = request.body?.CallUUID;
      if (typeof callUuid !== 'string' || !isCallUuid(callUuid)) {
        throw new VoxlineError('VL_ERR_BAD_REQUEST', 'CallUUID missing or not a Plivo call id');
      }
      const mode = request.query.mode ?? config.mode;
      const wsOrigin = publicUrl().replace(/^http/, 'ws');
      const xml = buildAnswerXml({
        mode,
        streamUrl: `${wsOrigin}/plivo/media?${streamQuery(config.authToken, callUuid, mode, now())}`,
        statusCallbackUrl: `${publicUrl()}/plivo/status`,
        streamTimeoutS: config.streamTimeoutS,
        dial: config.dial,
      });
      request.log.info({ callSid: callUuid, mode }, 'answering Plivo call');
      return reply.type('application/xml').send(xml);
    },
  );

  app.post<{ Body: Record<string, string | undefined> }>(
    '/plivo/status',
    { preValidation: requireSignature('status') },
    async (request, reply) => {
      const body = request.body ?? {};
      const event = body.Event ?? 'unknown';
      const callSid = body.CallUUID;
      const detail: Record<string, string> = {};
      for (const field of STATUS_FIELDS) {
        const value = body[field];
        if (typeof value === 'string' && value) detail[field] = value.slice(0, 200);
      }
      const call = typeof callSid === 'string' ? registry.get(callSid) : undefined;
      call?.recordStatus(event, detail);
      const level = event === 'DroppedStream' ? 'warn' : 'info';
      request.log[level]({ callSid, event, known: call !== undefined }, 'Plivo stream status callback');
      return reply.code(204).send();
    },
  );

  app.get(
    '/plivo/media',
    {
      websocket: true,
      preValidation: [
        async (request: FastifyRequest) => {
          const query = (request.query ?? {}) as Record<string, unknown>;
          const checked = checkStreamQuery(config.authToken, query, now());
          if (checked.ok) {
            grants.set(request, checked.grant);
            return;
          }
          // No token: accepted only when Plivo signed the upgrade itself (wss:// or https:// form).
          const path = `${publicUrl()}${request.url}`;
          const urls = [path.replace(/^http/, 'ws'), path];
          if (checked.reason === 'missing' && signedBy(request, 'GET', urls, {})) return;
          refuse(request, 'media', `stream token ${checked.reason}`);
        },
        async () => {
          try {
            registry.assertAccepting();
          } catch (err) {
            if (err instanceof VoxlineError) metrics.callsRefused.inc({ reason: err.code });
            throw err;
          }
        },
      ],
    },
    (socket, request) => {
      new PlivoMediaSession(socket, {
        mode: config.mode,
        legs,
        authId: config.authId,
        grant: grants.get(request),
        media,
        registry,
        metrics,
        timers,
        log: request.log,
      });
    },
  );
}

function formParams(body: unknown): FormParams {
  return body && typeof body === 'object' ? (body as FormParams) : {};
}
