import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { AccessGuard } from '../../http/access-guard.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import type { WebhookPublisher } from '../../webhooks/webhook-publisher.js';
import type { CallRegistry } from '../call-registry.js';
import type { DialCarrier, Dialer } from './dialer.js';
import { OutboundCalls } from './outbound-calls.js';
import { outboundRoutes } from './outbound-routes.js';

export interface OutboundDeps {
  readonly config: Config;
  readonly registry: CallRegistry;
  readonly metrics: GatewayMetrics;
  readonly guard: AccessGuard;
  readonly publisher: Pick<WebhookPublisher, 'publish'> | undefined;
  readonly clock: Clock;
}

/** How long one carrier REST request (dial, cancel) may take. */
const REST_TIMEOUT_MS = 10_000;

/**
 * Outbound calls: a dialer for each REST carrier configured (Twilio with TWILIO_ACCOUNT_SID and
 * TWILIO_AUTH_TOKEN; Telnyx with TELNYX_API_KEY, TELNYX_CONNECTION_ID and its edge), their
 * callback routes, and POST /v1/calls. The SIP dialer joins later: `outbound.addDialer(…)`.
 * Each carrier's code is loaded only when it is configured.
 */
export async function registerOutbound(server: FastifyInstance, deps: OutboundDeps): Promise<OutboundCalls> {
  const { config, registry, metrics, guard, publisher, clock } = deps;
  const publicUrl = () => config.publicUrl;
  const dialers = new Map<DialCarrier, Dialer>();
  const rest = config.agent.twilioRest;
  if (rest) {
    const { TwilioDialer } = await import('../../carriers/twilio/twilio-dialer.js');
    const dialer = new TwilioDialer({
      ...rest,
      timeoutMs: REST_TIMEOUT_MS,
      publicUrl,
      legs: config.legs,
      twilio: config.twilio,
      log: server.log,
    });
    dialers.set('twilio', dialer);
    const { twilioDialRoutes } = await import('../../carriers/twilio/twilio-dial-routes.js');
    await server.register(twilioDialRoutes, { twilio: config.twilio, publicUrl, metrics, dialer });
  }
  if (config.outbound.telnyx && config.telnyx) {
    const { TelnyxDialer } = await import('../../carriers/telnyx/telnyx-dialer.js');
    const dialer = new TelnyxDialer({
      rest: config.outbound.telnyx,
      edge: config.telnyx,
      publicUrl,
      clock,
      timeoutMs: REST_TIMEOUT_MS,
      log: server.log,
    });
    dialers.set('telnyx', dialer);
    const { telnyxDialRoutes } = await import('../../carriers/telnyx/telnyx-dial-routes.js');
    await server.register(telnyxDialRoutes, {
      config: config.telnyx,
      dialer,
      legs: config.legs,
      media: config.media,
      registry,
      metrics,
      clock,
    });
  }
  const outbound = new OutboundCalls({
    dialers,
    maxConcurrent: config.outbound.maxConcurrent,
    callsPerSecond: config.outbound.callsPerSecond,
    clock,
    publish: (dial, data) => publisher?.publish(dial, 'call.dialed', data),
    log: server.log,
  });
  await server.register(outboundRoutes, { outbound, guard });
  return outbound;
}
