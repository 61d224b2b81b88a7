import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';

/** Outbound calls (POST /v1/calls): limits, and the Telnyx Call Control credentials (part of EnvSchema). */
export const OutboundEnvProperties = {
  OUTBOUND_MAX_CONCURRENT: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 10,
    description:
      'outbound attempts that may be dialling or ringing at once, per carrier (more: 429 with Retry-After)',
  }),
  OUTBOUND_CALLS_PER_SECOND: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1000,
    default: 1,
    description:
      'new outbound attempts per second, per carrier (a token bucket holding that many, at least 1; more: 429 with Retry-After)',
  }),
  TELNYX_API_KEY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Telnyx outbound calls (with TELNYX_CONNECTION_ID and TELNYX_PUBLIC_KEY): the API v2 key Call Control is called with',
    }),
  ),
  TELNYX_CONNECTION_ID: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_-]{1,128}$',
      description: 'Telnyx outbound calls: the Call Control application (connection) that places them',
    }),
  ),
  TELNYX_API_BASE_URL: Type.String({
    minLength: 1,
    default: 'https://api.telnyx.com',
    description: 'Telnyx REST origin (a proxy or test double)',
  }),
};

export interface TelnyxRestConfig {
  readonly apiKey: string;
  readonly connectionId: string;
  /** Origin without a trailing slash; requests go to `${baseUrl}/v2/…`. */
  readonly baseUrl: string;
}

export interface OutboundConfig {
  readonly maxConcurrent: number;
  readonly callsPerSecond: number;
  /** Telnyx Call Control; undefined: no Telnyx dialer. (Twilio's credentials are agent.twilioRest.) */
  readonly telnyx: TelnyxRestConfig | undefined;
}

interface OutboundEnv {
  OUTBOUND_MAX_CONCURRENT?: number;
  OUTBOUND_CALLS_PER_SECOND?: number;
  TELNYX_API_KEY?: string;
  TELNYX_CONNECTION_ID?: string;
  TELNYX_API_BASE_URL?: string;
  TELNYX_PUBLIC_KEY?: string;
}

export function outboundConfigFrom(e: Readonly<Record<string, unknown>>): ConfigPart<OutboundConfig> {
  const env = e as OutboundEnv;
  const problems: string[] = [];
  const baseUrl = (env.TELNYX_API_BASE_URL ?? 'https://api.telnyx.com').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(baseUrl)) {
    problems.push(`TELNYX_API_BASE_URL: must be an http(s) URL (got ${JSON.stringify(baseUrl)})`);
  }
  const { TELNYX_API_KEY: apiKey, TELNYX_CONNECTION_ID: connectionId } = env;
  if ((apiKey === undefined) !== (connectionId === undefined)) {
    problems.push('TELNYX_API_KEY and TELNYX_CONNECTION_ID: outbound Telnyx calls need both');
  }
  // The dial's webhooks and its media stream are verified with the Telnyx edge's key and secret.
  if (apiKey && !env.TELNYX_PUBLIC_KEY) {
    problems.push(
      'TELNYX_API_KEY needs TELNYX_PUBLIC_KEY: the outbound calls’ webhooks are verified with it',
    );
  }
  return {
    value: {
      maxConcurrent: env.OUTBOUND_MAX_CONCURRENT ?? 10,
      callsPerSecond: env.OUTBOUND_CALLS_PER_SECOND ?? 1,
      telnyx: apiKey && connectionId ? { apiKey, connectionId, baseUrl } : undefined,
    },
    problems,
    warnings: [],
  };
}
