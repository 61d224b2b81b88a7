import { Readable } from 'node:stream';
import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { Clock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallStart, LegLabels } from '../carrier.js';
import { TelnyxMediaSession } from './media-session.js';
import { checkTelnyxSignature, telnyxPublicKey } from './signature.js';
import { checkStreamToken } from './stream-token.js';
import type { TelnyxConfig } from './telnyx-config.js';
import { type DialledStream, TELNYX_DIAL_PATHS, type TelnyxDialer } from './telnyx-dialer.js';

export interface TelnyxDialRoutesOptions {
  readonly config: TelnyxConfig;
  readonly dialer: TelnyxDialer;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly clock: Clock;
}

/** A signed webhook body is read whole before it is verified: at most this much. */
const MAX_WEBHOOK_BYTES = 64 * 1024;
const MediaQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 512 })) });

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as received, for the Ed25519 check (the Telnyx dial webhook only). */
    telnyxDialRawBody?: Buffer;
    /** The attempt the stream token names, once checked (the Telnyx dial media route only). */
    telnyxDialStream?: DialledStream;
  }
}

/**
 * POST /telnyx/dial/events (the Call Control webhooks of outbound attempts, Ed25519-checked
 * before their body is parsed) and GET /telnyx/dial/media (an answered attempt's media stream,
 * its token checked before the upgrade). The stream is an ordinary Telnyx call, opened with the
 * dial's parameters: Call Control streams carry no custom parameters of their own.
 */
export async function telnyxDialRoutes(
  app: FastifyInstance,
  options: TelnyxDialRoutesOptions,
): Promise<void> {
  const { config, dialer, legs, media, registry, metrics, clock } = options;
  const key = telnyxPublicKey(config.publicKey);

  app.post<{ Body: unknown }>(
    TELNYX_DIAL_PATHS.events,
    {
      preParsing: async (request: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream) => {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of payload) {
          const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
          size += bytes.length;
          if (size > MAX_WEBHOOK_BYTES)
            throw new VoxlineError('VL_ERR_BAD_REQUEST', 'webhook body too large');
          chunks.push(bytes);
        }
        request.telnyxDialRawBody = Buffer.concat(chunks);
        return Readable.from([request.telnyxDialRawBody]);
      },
      preValidation: async (request, reply) => {
        const failure = checkTelnyxSignature(
          key,
          {
            signature: header(request, 'telnyx-signature-ed25519'),
            timestamp: header(request, 'telnyx-timestamp'),
            body: request.telnyxDialRawBody ?? Buffer.alloc(0),
          },
          clock.wallNow(),
          config.signatureToleranceS,
        );
        if (!failure) return undefined;
        metrics.signatureRejections.inc({ route: 'telnyx_dial_events' });
        request.log.warn({ failure }, 'Telnyx signature rejected');
        return forbidden(reply, 'missing, stale or invalid telnyx-signature-ed25519');
      },
    },
    async (request, reply) => {
      const known = dialer.event(request.body);
      request.log.debug({ known }, 'Telnyx dial webhook');
      return reply.code(200).send({ ok: true });
    },
  );

  app.get<{ Querystring: { token?: string } }>(
    TELNYX_DIAL_PATHS.media,
    {
      websocket: true,
      schema: { querystring: MediaQuery },
      preValidation: async (request, reply) => {
        const check = checkStreamToken(config.streamSecret, request.query.token, clock.wallNow() / 1000);
        const stream = 'callSid' in check ? dialer.stream(check.callSid) : undefined;
        if (!stream) {
          metrics.signatureRejections.inc({ route: 'telnyx_dial_media' });
          request.log.warn(
            { failure: 'failure' in check ? check.failure : 'no_answered_dial' },
            'Telnyx dial stream refused',
          );
          return forbidden(reply, 'missing, expired or invalid stream token, or no answered call for it');
        }
        request.telnyxDialStream = stream;
        try {
          registry.assertAccepting();
        } catch (err) {
          if (err instanceof VoxlineError) metrics.callsRefused.inc({ reason: err.code });
          throw err;
        }
        return undefined;
      },
    },
    (socket, request) => {
      // Set before the upgrade, or there would be no socket.
      const stream = request.telnyxDialStream as DialledStream;
      const { request: dial } = stream;
      new TelnyxMediaSession(socket, {
        mode: dial.mode,
        legs,
        codec: config.codec,
        media,
        registry: openingWith(registry, dial.parameters, {
          voxlineDialId: dial.id,
          direction: 'outbound',
        }),
        metrics,
        log: request.log,
        boundCallSid: stream.callControlId,
      });
    },
  );
}

/**
 * The registry as a dialled call's media session sees it: the call opens with the dial's
 * parameters under the stream's own and voxline's keys over both; everything else is the registry.
 */
function openingWith(
  registry: CallRegistry,
  under: Readonly<Record<string, string>>,
  over: Readonly<Record<string, string>>,
): CallRegistry {
  const open: CallRegistry['open'] = (start: CallStart, ...rest) =>
    registry.open({ ...start, customParameters: { ...under, ...start.customParameters, ...over } }, ...rest);
  return new Proxy(registry, {
    get(target, property) {
      if (property === 'open') return open;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** A 403 in the shape of every voxline error (VL_ERR_CARRIER_SIGNATURE), saying what was wrong. */
function forbidden(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(403).send({ error: { code: 'VL_ERR_CARRIER_SIGNATURE', message } });
}
