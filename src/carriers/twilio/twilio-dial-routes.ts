import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { isValidTwilioSignature, signedUrlCandidates } from './signature.js';
import type { TwilioDialer } from './twilio-dialer.js';

export interface TwilioDialRoutesOptions {
  readonly twilio: Pick<Config['twilio'], 'authToken' | 'validate'>;
  /** Origin Twilio signs its requests against; read per request. */
  readonly publicUrl: () => string;
  readonly metrics: GatewayMetrics;
  readonly dialer: TwilioDialer;
}

const Params = Type.Object({ dialId: Type.String({ pattern: '^dial_[0-9a-f]{24}$' }) });

type FormBody = Record<string, string | undefined>;

/**
 * POST /twilio/dial/:dialId/status: the call status callbacks of an outbound attempt, checked
 * against X-Twilio-Signature as the inbound webhooks are (routes.ts), before anything is read.
 */
export async function twilioDialRoutes(
  app: FastifyInstance,
  options: TwilioDialRoutesOptions,
): Promise<void> {
  const { twilio, publicUrl, metrics, dialer } = options;

  const checkSignature = async (request: FastifyRequest): Promise<void> => {
    if (!twilio.validate) return;
    if (!twilio.authToken) {
      metrics.signatureRejections.inc({ route: 'dial_status' });
      throw new VoxlineError('VL_ERR_TWILIO_NOT_CONFIGURED');
    }
    const signature = request.headers['x-twilio-signature'];
    const urls = signedUrlCandidates(publicUrl(), request.url, false);
    const body =
      request.body && typeof request.body === 'object' ? (request.body as Record<string, string>) : {};
    if (typeof signature !== 'string' || !isValidTwilioSignature(twilio.authToken, signature, urls, body)) {
      metrics.signatureRejections.inc({ route: 'dial_status' });
      request.log.warn(
        { route: 'dial_status', signed: typeof signature === 'string' },
        'Twilio signature rejected',
      );
      throw new VoxlineError('VL_ERR_TWILIO_SIGNATURE');
    }
  };

  app.post<{ Params: { dialId: string }; Body: FormBody }>(
    '/twilio/dial/:dialId/status',
    { schema: { params: Params }, preValidation: checkSignature },
    async (request, reply) => {
      const body = request.body ?? {};
      const known = dialer.statusCallback(request.params.dialId, body);
      request.log.info(
        { dialId: request.params.dialId, callSid: body.CallSid, status: body.CallStatus, known },
        'Twilio dial status callback',
      );
      return reply.code(204).send();
    },
  );
}
