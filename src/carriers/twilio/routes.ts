import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import type { Config, MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { PARAM, TwilioMediaSession } from './media-session.js';
import { isValidTwilioSignature, signedUrlCandidates } from './signature.js';
import { buildVoiceTwiml } from './twiml.js';

export interface TwilioRoutesOptions {
  readonly twilio: Config['twilio'];
  /** Origin Twilio signs its requests against and reaches the stream at; read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
}

type FormBody = Record<string, string | undefined>;

/** Status callback fields kept on the call (stream and call status callbacks). */
const STATUS_FIELDS = ['StreamSid', 'StreamName', 'StreamError', 'CallStatus', 'CallDuration', 'Timestamp'];

const VoiceQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal('transcribe'), Type.Literal('agent')])),
});

/**
 * POST /twilio/voice (TwiML), POST /twilio/status (callbacks), GET /twilio/media (Media Streams).
 * Every route checks X-Twilio-Signature first; for the media route that happens before the
 * WebSocket upgrade, so a forged request gets a plain 403 and never a socket.
 */
export async function twilioRoutes(app: FastifyInstance, options: TwilioRoutesOptions): Promise<void> {
  const { twilio, publicUrl, legs, media, registry, metrics } = options;

  const requireTwilioSignature = (route: string, websocket: boolean) =>
    async function checkSignature(request: FastifyRequest): Promise<void> {
      const { authToken, validate } = twilio;
      if (!validate) return;
      if (!authToken) {
        metrics.signatureRejections.inc({ route });
        throw new VoxlineError('VL_ERR_TWILIO_NOT_CONFIGURED');
      }
      const signature = request.headers['x-twilio-signature'];
      const urls = signedUrlCandidates(publicUrl(), request.url, websocket);
      const params = websocket ? {} : formParams(request.body);
      if (typeof signature !== 'string' || !isValidTwilioSignature(authToken, signature, urls, params)) {
        metrics.signatureRejections.inc({ route });
        request.log.warn({ route, signed: typeof signature === 'string' }, 'Twilio signature rejected');
        throw new VoxlineError('VL_ERR_TWILIO_SIGNATURE');
      }
    };

  app.post<{ Querystring: { mode?: CallMode }; Body: FormBody }>(
    '/twilio/voice',
    { schema: { querystring: VoiceQuery }, preValidation: requireTwilioSignature('voice', false) },
    async (request, reply) => {
      const body = request.body ?? {};
      const mode = request.query.mode ?? twilio.mode;
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
      const { twiml, skippedParameters } = buildVoiceTwiml({
        mode,
        streamUrl: `${publicUrl().replace(/^http/, 'ws')}/twilio/media`,
        statusCallbackUrl: `${publicUrl()}/twilio/status`,
        parameters,
        dial: twilio.dial,
        continueUrl: twilio.continueUrl,
      });
      if (skippedParameters.length > 0) {
        request.log.warn({ skippedParameters }, 'stream parameters too long for Twilio were left out');
      }
      request.log.info({ callSid: body.CallSid, mode }, 'answering call');
      return reply.type('text/xml').send(twiml);
    },
  );

  app.post<{ Body: FormBody }>(
    '/twilio/status',
    { preValidation: requireTwilioSignature('status', false) },
    async (request, reply) => {
      const body = request.body ?? {};
      const event = body.StreamEvent ?? (body.CallStatus ? `call-${body.CallStatus}` : 'unknown');
      const callSid = body.CallSid;
      const detail: Record<string, string> = {};
      for (const field of STATUS_FIELDS) {
        const value = body[field];
        if (value) detail[field] = value;
      }
      const call = callSid ? registry.get(callSid) : undefined;
      call?.recordStatus(event, detail);
      const level = event === 'stream-error' || body.CallStatus === 'failed' ? 'warn' : 'info';
      request.log[level]({ callSid, event, ...detail, known: call !== undefined }, 'Twilio status callback');
      return reply.code(204).send();
    },
  );

  app.get(
    '/twilio/media',
    {
      websocket: true,
      preValidation: [
        requireTwilioSignature('media', true),
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
      new TwilioMediaSession(socket, {
        mode: twilio.mode,
        legs,
        media,
        registry,
        metrics,
        log: request.log,
      });
    },
  );
}

function formParams(body: unknown): Record<string, string> {
  return body && typeof body === 'object' ? (body as Record<string, string>) : {};
}
