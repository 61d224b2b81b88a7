import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { requireSharedSecret } from '../stream-socket-session.js';
import { PARAM } from '../twilio/media-session.js';
import { isValidTwilioSignature, signedUrlCandidates } from '../twilio/signature.js';
import { buildVoiceTwiml } from '../twilio/twiml.js';
import { SignalWireSession } from './media-session.js';
import type { SignalWireConfig } from './signalwire-config.js';

export interface SignalWireRoutesOptions {
  readonly config: SignalWireConfig;
  /** Origin SignalWire signs its requests against and reaches the stream at; read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Runs the handshake timer (default: the system clock). */
  readonly clock?: Clock;
}

type FormBody = Record<string, string | undefined>;

/** Status callback fields kept on the call. */
const STATUS_FIELDS = ['StreamSid', 'StreamName', 'StreamError', 'CallStatus', 'CallDuration', 'Timestamp'];

const VoiceQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal('transcribe'), Type.Literal('agent')])),
});

/**
 * POST /signalwire/voice (cXML), POST /signalwire/status (callbacks), GET /signalwire/media (the
 * <Stream> WebSocket). The webhooks are checked against X-SignalWire-Signature (Twilio's HMAC-SHA1
 * over URL and sorted form fields, keyed with the project's Signing Key; SignalWire also sends it
 * as X-Twilio-Signature) before anything is read; the WebSocket is checked for the bearer token
 * the cXML gave it (<Stream authBearerToken>) before the upgrade: a refused request never gets a socket.
 */
export async function signalWireRoutes(
  app: FastifyInstance,
  options: SignalWireRoutesOptions,
): Promise<void> {
  const { config, publicUrl, legs, media, registry, metrics } = options;
  const timers = options.clock ?? systemClock;

  const requireSignature = (route: string) =>
    async function checkSignature(request: FastifyRequest): Promise<void> {
      const header = request.headers['x-signalwire-signature'] ?? request.headers['x-twilio-signature'];
      const urls = signedUrlCandidates(publicUrl(), request.url, false);
      const body = formParams(request.body);
      if (typeof header !== 'string' || !isValidTwilioSignature(config.signingKey, header, urls, body)) {
        metrics.signatureRejections.inc({ route: `signalwire_${route}` });
        request.log.warn({ route, signed: typeof header === 'string' }, 'SignalWire signature rejected');
        throw new VoxlineError('VL_ERR_CARRIER_SIGNATURE', 'X-SignalWire-Signature');
      }
    };

  app.post<{ Querystring: { mode?: CallMode }; Body: FormBody }>(
    '/signalwire/voice',
    { schema: { querystring: VoiceQuery }, preValidation: requireSignature('voice') },
    async (request, reply) => {
      const body = request.body ?? {};
      const mode = request.query.mode ?? config.mode;
      const parameters: Record<string, string> = {
        [PARAM.mode]: mode,
        [PARAM.inboundLabel]: legs.inbound,
        [PARAM.outboundLabel]: legs.outbound,
      };
      for (const [param, field] of [
        ['from', 'From'],
        ['to', 'To'],
        ['direction', 'Direction'],
      ] as const) {
        const value = body[field];
        if (value) parameters[param] = value;
      }
      const { twiml } = buildVoiceTwiml({
        mode,
        streamUrl: `${publicUrl().replace(/^http/, 'ws')}/signalwire/media`,
        statusCallbackUrl: `${publicUrl()}/signalwire/status`,
        parameters,
        dial: config.dial,
        // The token is the one credential of the stream: it is in the cXML (only signed requests get it), never logged.
        streamAttributes: { authBearerToken: config.streamToken, codec: config.codec },
      });
      request.log.info({ callSid: body.CallSid, mode, codec: config.codec }, 'answering SignalWire call');
      return reply.type('text/xml').send(twiml);
    },
  );

  app.post<{ Body: FormBody }>(
    '/signalwire/status',
    { preValidation: requireSignature('status') },
    async (request, reply) => {
      const body = request.body ?? {};
      const event = body.StreamEvent ?? (body.CallStatus ? `call-${body.CallStatus}` : 'unknown');
      const callSid = body.CallSid;
      const detail: Record<string, string> = {};
      for (const field of STATUS_FIELDS) {
        const value = body[field];
        if (value) detail[field] = value.slice(0, 256);
      }
      const call = callSid ? registry.get(callSid) : undefined;
      call?.recordStatus(event, detail);
      const level = event === 'stream-error' || body.CallStatus === 'failed' ? 'warn' : 'info';
      request.log[level](
        { callSid, event, ...detail, known: call !== undefined },
        'SignalWire status callback',
      );
      return reply.code(204).send();
    },
  );

  app.get(
    '/signalwire/media',
    {
      websocket: true,
      preValidation: requireSharedSecret({
        ingress: 'signalwire',
        secret: config.streamToken,
        registry,
        metrics,
      }),
    },
    (socket, request) => {
      new SignalWireSession(socket, {
        mode: config.mode,
        legs,
        l16ByteOrder: config.l16ByteOrder,
        media,
        registry,
        metrics,
        timers,
        log: request.log,
      });
    },
  );
}

function formParams(body: unknown): Record<string, string> {
  return body && typeof body === 'object' ? (body as Record<string, string>) : {};
}
