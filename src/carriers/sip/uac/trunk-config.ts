import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../../config-part.js';

export const SipTrunkEnvProperties = {
  SIP_TRUNK_URI: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'outbound SIP calls (POST /v1/calls, carrier sip) go to this trunk, e.g. `sip:trunk.example.com:5060` (UDP), `sip:trunk.example.com;transport=tcp` (TCP); needs SIP_PORT',
    }),
  ),
  SIP_TRUNK_USER: Type.Optional(
    Type.String({ minLength: 1, description: 'digest username when the trunk challenges INVITEs (401/407)' }),
  ),
  SIP_TRUNK_PASSWORD: Type.Optional(
    Type.String({ minLength: 1, description: 'with `SIP_TRUNK_USER`: the digest password (never logged)' }),
  ),
  SIP_TRUNK_OUTBOUND_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'send every outbound request here instead of to the trunk host, e.g. `sip:10.0.0.2:5060`',
    }),
  ),
  SIP_TRUNK_FROM_DOMAIN: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'host of the From URI of outbound calls (default: the trunk host)',
    }),
  ),
  SIP_TRUNK_MAX_DIALS: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 50,
    description: 'outbound SIP attempts ringing at once; more are refused (503)',
  }),
};

interface SipTrunkEnv {
  SIP_PORT?: number;
  SIP_TRUNK_URI?: string;
  SIP_TRUNK_USER?: string;
  SIP_TRUNK_PASSWORD?: string;
  SIP_TRUNK_OUTBOUND_PROXY?: string;
  SIP_TRUNK_FROM_DOMAIN?: string;
  SIP_TRUNK_MAX_DIALS: number;
}

export interface HostPort {
  /** A name or an IP literal (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** `;transport=` of its URI (UDP when absent). */
  readonly transport: 'UDP' | 'TCP';
}

export interface SipTrunkOptions {
  /** Where INVITEs are addressed: E.164 targets become `sip:<number>@<host>[:port]`. */
  readonly trunk: HostPort;
  /** The Request-URI's host part as configured (`host` or `host:port`). */
  readonly uriHostPort: string;
  readonly credentials: { readonly username: string; readonly password: string } | undefined;
  /** Where requests are sent when set (RFC 3261 §8.1.2 outbound proxy); else the trunk. */
  readonly outboundProxy: HostPort | undefined;
  readonly fromDomain: string;
  readonly maxDials: number;
  /** How requests travel to the next hop (the outbound proxy's transport when there is one). */
  readonly transport: 'UDP' | 'TCP';
}

const SIP_URI = /^sip:(?:[^@\s]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:;[^;\s]*)*)$/;
const SAFE_TOKEN = /^[^\s"\\<>;,@]+$/;

/** `sip:host[:port][;params]` (or, for the proxy, plain `host:port`) → host and port; a problem otherwise. */
function hostPortOf(name: string, value: string, bareAllowed: boolean): HostPort | string {
  const text = bareAllowed && !/^sips?:/i.test(value) ? `sip:${value}` : value;
  const m = SIP_URI.exec(text.trim());
  if (!m) return `${name}: a sip: URI like sip:trunk.example.com:5060 (got ${JSON.stringify(value)})`;
  const transport = /;transport=([^;]+)/i.exec(m[3] ?? '')?.[1]?.toLowerCase() ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp')
    return `${name}: outbound SIP goes over UDP or TCP (got transport=${transport})`;
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port < 1 || port > 65535) return `${name}: port ${port} is not 1–65535`;
  return { host: m[1].replace(/^\[|\]$/g, ''), port, transport: transport === 'tcp' ? 'TCP' : 'UDP' };
}

export function sipTrunkConfigFrom(e: SipTrunkEnv): ConfigPart<SipTrunkOptions | undefined> {
  if (e.SIP_TRUNK_URI === undefined) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  if (e.SIP_PORT === undefined)
    problems.push('SIP_TRUNK_URI: outbound SIP calls leave from SIP_PORT, which is not set');
  if (/^sips:/i.test(e.SIP_TRUNK_URI)) problems.push('SIP_TRUNK_URI: sips: (TLS) is not supported');
  const trunk = hostPortOf('SIP_TRUNK_URI', e.SIP_TRUNK_URI, false);
  if (typeof trunk === 'string') problems.push(trunk);
  const proxy =
    e.SIP_TRUNK_OUTBOUND_PROXY === undefined
      ? undefined
      : hostPortOf('SIP_TRUNK_OUTBOUND_PROXY', e.SIP_TRUNK_OUTBOUND_PROXY, true);
  if (typeof proxy === 'string') problems.push(proxy);
  if (Boolean(e.SIP_TRUNK_USER) !== Boolean(e.SIP_TRUNK_PASSWORD))
    problems.push('SIP_TRUNK_USER and SIP_TRUNK_PASSWORD: set both, or neither');
  // The username goes into a quoted Authorization parameter: nothing that could end the quotes.
  if (e.SIP_TRUNK_USER && !/^[^"\\\r\n]+$/.test(e.SIP_TRUNK_USER))
    problems.push('SIP_TRUNK_USER: no quotes, backslashes or line breaks');
  if (e.SIP_TRUNK_FROM_DOMAIN && !SAFE_TOKEN.test(e.SIP_TRUNK_FROM_DOMAIN))
    problems.push(`SIP_TRUNK_FROM_DOMAIN: a host name (got ${JSON.stringify(e.SIP_TRUNK_FROM_DOMAIN)})`);
  if (problems.length > 0 || typeof trunk === 'string' || typeof proxy === 'string')
    return { value: undefined, problems, warnings: [] };
  const uriHostPort = /^sip:(?:[^@\s]+@)?([^;]+)/.exec(e.SIP_TRUNK_URI.trim())?.[1] ?? trunk.host;
  return {
    value: {
      trunk,
      uriHostPort,
      credentials:
        e.SIP_TRUNK_USER && e.SIP_TRUNK_PASSWORD
          ? { username: e.SIP_TRUNK_USER, password: e.SIP_TRUNK_PASSWORD }
          : undefined,
      outboundProxy: proxy,
      fromDomain: e.SIP_TRUNK_FROM_DOMAIN ?? uriHostPort.replace(/:\d+$/, ''),
      maxDials: e.SIP_TRUNK_MAX_DIALS,
      transport: (proxy ?? trunk).transport,
    },
    problems: [],
    warnings: [],
  };
}
