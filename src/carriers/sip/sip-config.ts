import { isIP } from 'node:net';
import { Type } from '@sinclair/typebox';
import { commaList } from '../../comma-list.js';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';
import { checkAllowlist } from '../source-allowlist.js';
import type { TcpLimits } from './sip-transport.js';

export const SipEnvProperties = {
  SIP_PORT: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 65535, description: 'SIP port, UDP and TCP (off if unset)' }),
  ),
  SIP_BIND: Type.String({ minLength: 1, default: '0.0.0.0', description: 'SIP and RTP listen address' }),
  SIP_PUBLIC_HOST: Type.Optional(
    Type.String({ minLength: 1, description: 'address put in Contact and SDP (default: SIP_BIND)' }),
  ),
  SIP_RTP_PORTS: Type.String({ default: '20000-30000', description: 'RTP port range, even ports used' }),
  SIP_ALLOW: Type.String({ default: '', description: 'addresses/CIDRs allowed to send INVITEs' }),
  SIP_ROUTES: Type.String({
    default: '',
    description: 'dialled user → mode, e.g. `support=agent,+15551230000=transcribe,*=transcribe`',
  }),
  SIP_MAX_CALLS: Type.Integer({ minimum: 1, maximum: 100_000, default: 500 }),
  SIP_RING_MS: Type.Integer({
    minimum: 0,
    maximum: 60_000,
    default: 0,
    description: 'ring this long (180) before answering',
  }),
  SIP_TCP_IDLE_MS: Type.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 60_000,
    description: 'close a SIP TCP connection that completes no message this long and carries no call',
  }),
  SIP_TCP_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 100_000, default: 512 }),
  SIP_TCP_MAX_PER_SOURCE: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 32,
    description: 'SIP TCP connections one source address may hold open',
  }),
  SIP_PREFER_G722: Type.Boolean({
    default: false,
    description:
      'answer G.722 when an offer has both it and G.711 (G.722 is always taken when offered alone)',
  }),
  SIP_AUTH_USER: Type.Optional(Type.String({ minLength: 1, description: 'digest auth for INVITEs' })),
  SIP_AUTH_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  SIPREC_CALLER_LABEL: Type.String({
    default: '1',
    description: 'SIPREC fallback: the SDP label of the caller stream, e.g. `1` or `10.0.0.5=2,1` per trunk',
  }),
};

interface SipEnv {
  SIP_PORT?: number;
  SIP_BIND: string;
  SIP_PUBLIC_HOST?: string;
  SIP_RTP_PORTS: string;
  SIP_ALLOW: string;
  SIP_ROUTES: string;
  SIP_MAX_CALLS: number;
  SIP_RING_MS: number;
  SIP_TCP_IDLE_MS: number;
  SIP_TCP_MAX_CONNECTIONS: number;
  SIP_TCP_MAX_PER_SOURCE: number;
  SIP_PREFER_G722: boolean;
  SIP_AUTH_USER?: string;
  SIP_AUTH_PASSWORD?: string;
  SIPREC_CALLER_LABEL: string;
}

export interface SipOptions {
  readonly port: number;
  readonly bind: string;
  readonly publicHost: string | undefined;
  readonly rtpPorts: { readonly min: number; readonly max: number };
  readonly allow: readonly string[];
  /** Dialled user (exact) → mode; `*` is the default. */
  readonly routes: ReadonlyMap<string, CallMode>;
  readonly maxCalls: number;
  /** Time between 180 Ringing and 200 OK (a CANCEL in it gets 487). */
  readonly ringMs: number;
  readonly tcp: TcpLimits;
  /** Offers with G.711 and G.722: answer G.722 (otherwise G.711; G.722 alone is always taken). */
  readonly preferG722: boolean;
  readonly auth: { readonly user: string; readonly password: string } | undefined;
  /** SIPREC: source IP → caller label, and the default under `*`. */
  readonly siprecCallerLabel: ReadonlyMap<string, string>;
}

export function sipConfigFrom(e: SipEnv): ConfigPart<SipOptions | undefined> {
  if (e.SIP_PORT === undefined) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  const warnings: string[] = [];
  const allow = commaList(e.SIP_ALLOW);
  problems.push(...checkAllowlist('SIP_ALLOW', allow));
  const ports = /^(\d{1,5})-(\d{1,5})$/.exec(e.SIP_RTP_PORTS.trim());
  const min = Number(ports?.[1]);
  const max = Number(ports?.[2]);
  if (!ports || min < 1024 || max > 65535 || max - min < 2) {
    problems.push(
      `SIP_RTP_PORTS: a range like 20000-30000 within 1024–65535 (got ${JSON.stringify(e.SIP_RTP_PORTS)})`,
    );
  }
  const routes = new Map<string, CallMode>([['*', 'transcribe']]);
  for (const entry of commaList(e.SIP_ROUTES)) {
    const [user, mode] = entry.split('=').map((v) => v.trim());
    if (!user || (mode !== 'agent' && mode !== 'transcribe')) {
      problems.push(`SIP_ROUTES: each entry is user=transcribe|agent (got ${JSON.stringify(entry)})`);
    } else routes.set(user, mode);
  }
  const siprecCallerLabel = new Map<string, string>([['*', '1']]);
  for (const entry of commaList(e.SIPREC_CALLER_LABEL)) {
    const [a, b] = entry.split('=').map((v) => v.trim());
    if (b === undefined) siprecCallerLabel.set('*', a);
    else if (isIP(a) === 0 || !b)
      problems.push(`SIPREC_CALLER_LABEL: entries are label or ip=label (got ${JSON.stringify(entry)})`);
    else siprecCallerLabel.set(a, b);
  }
  if (Boolean(e.SIP_AUTH_USER) !== Boolean(e.SIP_AUTH_PASSWORD)) {
    problems.push('SIP_AUTH_USER and SIP_AUTH_PASSWORD: set both, or neither');
  }
  if (allow.length === 0 && !e.SIP_AUTH_USER) {
    warnings.push('SIP_ALLOW is empty and SIP_AUTH_USER unset: anyone who reaches SIP_PORT can place calls');
  }
  if (!e.SIP_PUBLIC_HOST && (e.SIP_BIND === '0.0.0.0' || e.SIP_BIND === '::')) {
    warnings.push(
      'SIP_PUBLIC_HOST is not set: Contact and SDP will carry this host’s first external IPv4 address',
    );
  }
  return {
    value: {
      port: e.SIP_PORT,
      bind: e.SIP_BIND,
      publicHost: e.SIP_PUBLIC_HOST,
      rtpPorts: { min, max },
      allow,
      routes,
      maxCalls: e.SIP_MAX_CALLS,
      ringMs: e.SIP_RING_MS,
      tcp: Object.freeze({
        idleMs: e.SIP_TCP_IDLE_MS,
        maxConnections: e.SIP_TCP_MAX_CONNECTIONS,
        maxPerSource: e.SIP_TCP_MAX_PER_SOURCE,
      }),
      preferG722: e.SIP_PREFER_G722,
      auth:
        e.SIP_AUTH_USER && e.SIP_AUTH_PASSWORD
          ? { user: e.SIP_AUTH_USER, password: e.SIP_AUTH_PASSWORD }
          : undefined,
      siprecCallerLabel,
    },
    problems,
    warnings,
  };
}
