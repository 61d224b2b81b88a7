import { Readable } from 'node:stream';
import type {} from '@fastify/websocket'; // adds the { websocket: true } route option
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallRegistry } from '../../calls/call-registry.js';
import { type Clock, systemClock } from '../../clock.js';
import type { MediaLimits } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { CallMode, LegLabels } from '../carrier.js';
import { telnyxCallSid } from './call-id.js';
import { PARAM, TelnyxMediaSession } from './media-session.js';
import { checkTelnyxSignature, telnyxPublicKey } from './signature.js';
import { checkStreamToken, mintStreamToken } from './stream-token.js';
import type { TelnyxConfig } from './telnyx-config.js';
import { buildTexml } from './texml.js';

export interface TelnyxRoutesOptions {
  readonly config: TelnyxConfig;
  /** Origin the carrier reaches voxline at (signed URLs, stream URLs); read per request. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  readonly media: MediaLimits;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  /** Wall time for signature tolerance and token expiry (the system clock unless a test drives it). */
  readonly clock?: Clock;
}

/** A signed webhook body is read whole before it is verified: at most this much. */
const MAX_WEBHOOK_BYTES = 64 * 1024;
/** TeXML form fields copied into the stream's parameters (Twilio-compatible names). */
const CALL_FIELDS = [
  ['from', 'From'],
  ['to', 'To'],
  ['direction', 'Direction'],
] as const;
const STATUS_FIELDS = ['StreamSid', 'StreamName', 'StreamEvent', 'StreamError', 'CallStatus', 'Timestamp'];

const TexmlQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal('transcribe'), Type.Literal('agent')])),
});
const MediaQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 512 })) });

declare module 'fastify' {
  interface FastifyRequest {
    /** The body as received, kept for the Telnyx signature check (Telnyx routes only). */
    telnyxRawBody?: Buffer;
    /** The call the stream token names, once checked (the Telnyx media route only). */
    telnyxStreamCall?: string;
  }
}

type Fields = Record<string, unknown>;

/**
 * POST /telnyx/texml (the TeXML answer), POST /telnyx/status (stream status callbacks), GET
 * /telnyx/media (the media stream). The webhooks are checked against Telnyx's Ed25519 signature
 * before their body is parsed; the media route checks the per-call token of the TeXML answer
 * before the WebSocket upgrade, so a forged request gets a plain 403 and never a socket.
 */
export async function telnyxRoutes(app: FastifyInstance, options: TelnyxRoutesOptions): Promise<void> {
  const { config, publicUrl, legs, media, registry, metrics } = options;
  const clock = options.clock ?? systemClock;
  const key = telnyxPublicKey(config.publicKey);

  const keepRawBody = async (
    request: FastifyRequest,
    _reply: FastifyReply,
    payload: NodeJS.ReadableStream,
  ) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += bytes.length;
      if (size > MAX_WEBHOOK_BYTES) throw new VoxlineError('VL_ERR_BAD_REQUEST', 'webhook body too large');
      chunks.push(bytes);
    }
    request.telnyxRawBody = Buffer.concat(chunks);
    return Readable.from([request.telnyxRawBody]);
  };

  const requireSignature = (route: string) =>
    async function checkSignature(request: FastifyRequest, reply: FastifyReply) {
      const failure = checkTelnyxSignature(
        key,
        {
          signature: header(request, 'telnyx-signature-ed25519'),
          timestamp: header(request, 'telnyx-timestamp'),
          body: request.telnyxRawBody ?? Buffer.alloc(0),
        },
        clock.wallNow(),
        config.signatureToleranceS,
      );
      if (!failure) return;
      metrics.signatureRejections.inc({ route: `telnyx_${route}` });
      request.log.warn({ route, failure }, 'Telnyx signature rejected');
      return forbidden(reply, 'missing, stale or invalid telnyx-signature-ed25519');
    };

  app.post<{ Querystring: { mode?: CallMode }; Body: Fields }>(
    '/telnyx/texml',
    {
      schema: { querystring: TexmlQuery },
      preParsing: keepRawBody,
      preValidation: requireSignature('texml'),
    },
    async (request, reply) => {
      const body = fieldsOf(request.body);
      const callSid = typeof body.CallSid === 'string' ? body.CallSid : undefined;
      if (!callSid || callSid.length > 128) throw new VoxlineError('VL_ERR_BAD_REQUEST', 'no CallSid');
      const mode = request.query.mode ?? config.mode;
      const parameters: Record<string, string> = {
        [PARAM.mode]: mode,
        [PARAM.tracks]: mode === 'agent' ? 'inbound' : 'both',
        [PARAM.inboundLabel]: legs.inbound,
        [PARAM.outboundLabel]: legs.outbound,
      };
      for (const [param, field] of CALL_FIELDS) {
        const value = body[field];
        if (typeof value === 'string' && value.length > 0 && value.length <= 256) parameters[param] = value;
      }
      const expiresAtS = Math.floor(clock.wallNow() / 1000) + config.streamTokenTtlS;
      const token = mintStreamToken(config.streamSecret, callSid, expiresAtS);
      const texml = buildTexml({
        mode,
        streamUrl: `${publicUrl().replace(/^http/, 'ws')}/telnyx/media?token=${token}`,
        statusCallbackUrl: `${publicUrl()}/telnyx/status`,
        codec: config.codec,
        parameters,
        dial: config.dial,
        continueUrl: config.continueUrl,
      });
      request.log.info({ callSid: telnyxCallSid(callSid), mode }, 'answering Telnyx call');
      return reply.type('text/xml').send(texml);
    },
  );

  app.post<{ Body: Fields }>(
    '/telnyx/status',
    { preParsing: keepRawBody, preValidation: requireSignature('status') },
    async (request, reply) => {
      const body = fieldsOf(request.body);
      const callSid = typeof body.CallSid === 'string' ? body.CallSid : undefined;
      const event = typeof body.StreamEvent === 'string' ? body.StreamEvent : 'unknown';
      const detail: Record<string, string> = {};
      for (const field of STATUS_FIELDS) {
        const value = body[field];
        if (typeof value === 'string' && value) detail[field] = value.slice(0, 256);
      }
      const voxlineSid = callSid ? telnyxCallSid(callSid) : undefined;
      const call = voxlineSid ? registry.get(voxlineSid) : undefined;
      call?.recordStatus(event, detail);
      const level = event === 'stream-error' ? 'warn' : 'info';
      request.log[level](
        { callSid: voxlineSid, event, known: call !== undefined },
        'Telnyx stream status callback',
      );
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { token?: string } }>(
    '/telnyx/media',
    {
      websocket: true,
      schema: { querystring: MediaQuery },
      preValidation: async (request, reply) => {
        const check = checkStreamToken(config.streamSecret, request.query.token, clock.wallNow() / 1000);
        if ('failure' in check) {
          metrics.signatureRejections.inc({ route: 'telnyx_media' });
          request.log.warn({ failure: check.failure }, 'Telnyx stream token rejected');
          return forbidden(reply, 'missing, expired or invalid stream token');
        }
        request.telnyxStreamCall = check.callSid;
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
      new TelnyxMediaSession(socket, {
        mode: config.mode,
        legs,
        codec: config.codec,
        media,
        registry,
        metrics,
        log: request.log,
        // Set before the upgrade, or there would be no socket: the call the token names.
        boundCallSid: request.telnyxStreamCall ?? '',
      });
    },
  );
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function fieldsOf(body: unknown): Fields {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Fields) : {};
}

/** A 403 in the shape of every voxline error (VL_ERR_CARRIER_SIGNATURE), saying what was wrong. */
function forbidden(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(403).send({ error: { code: 'VL_ERR_CARRIER_SIGNATURE', message } });
}
