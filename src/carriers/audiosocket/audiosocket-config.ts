import { Type } from '@sinclair/typebox';
import { commaList } from '../../comma-list.js';
import type { ConfigPart } from '../../config-part.js';
import type { ConnectionLimits } from '../connection-limits.js';
import { checkAllowlist } from '../source-allowlist.js';

export interface AudioSocketOptions {
  readonly port: number;
  readonly bind: string;
  readonly mode: 'transcribe' | 'agent';
  /** Two connections whose UUIDs differ only in the last hex digit (0 caller, 1 agent) are one call. */
  readonly pairLegs: boolean;
  readonly allow: readonly string[];
  /** Connections held at once, in all and per source (a flood of idle ones would take every fd). */
  readonly limits: ConnectionLimits;
}

export const AudioSocketEnvProperties = {
  AUDIOSOCKET_PORT: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 65535,
      description: 'TCP port for Asterisk AudioSocket (off if unset)',
    }),
  ),
  AUDIOSOCKET_BIND: Type.String({
    minLength: 1,
    default: '0.0.0.0',
    description: 'AudioSocket listen address',
  }),
  AUDIOSOCKET_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description: 'AudioSocket calls: transcribe, or agent (voxline answers; one-leg calls only)',
  }),
  AUDIOSOCKET_PAIR_LEGS: Type.Boolean({
    default: false,
    description: 'UUIDs that differ only in a last hex digit 0 (caller) / 1 (agent) are one two-leg call',
  }),
  AUDIOSOCKET_ALLOW: Type.String({
    default: '',
    description: 'comma-separated addresses/CIDRs allowed to connect (everyone if empty)',
  }),
  AUDIOSOCKET_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 100_000, default: 1024 }),
  AUDIOSOCKET_MAX_PER_SOURCE: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 1024,
    description: 'connections one address may hold (an Asterisk host opens one per leg)',
  }),
};

interface AudioSocketEnv {
  AUDIOSOCKET_PORT?: number;
  AUDIOSOCKET_BIND: string;
  AUDIOSOCKET_MODE: 'transcribe' | 'agent';
  AUDIOSOCKET_PAIR_LEGS: boolean;
  AUDIOSOCKET_ALLOW: string;
  AUDIOSOCKET_MAX_CONNECTIONS: number;
  AUDIOSOCKET_MAX_PER_SOURCE: number;
}

export function audioSocketConfigFrom(e: AudioSocketEnv): ConfigPart<AudioSocketOptions | undefined> {
  if (e.AUDIOSOCKET_PORT === undefined) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  const warnings: string[] = [];
  const allow = commaList(e.AUDIOSOCKET_ALLOW);
  problems.push(...checkAllowlist('AUDIOSOCKET_ALLOW', allow));
  if (allow.length === 0) {
    warnings.push('AUDIOSOCKET_ALLOW is empty: any host that reaches AUDIOSOCKET_PORT can open calls');
  }
  if (e.AUDIOSOCKET_MODE === 'agent' && e.AUDIOSOCKET_PAIR_LEGS) {
    problems.push('AUDIOSOCKET_MODE=agent and AUDIOSOCKET_PAIR_LEGS: agent mode answers one-leg calls only');
  }
  return {
    value: {
      port: e.AUDIOSOCKET_PORT,
      bind: e.AUDIOSOCKET_BIND,
      mode: e.AUDIOSOCKET_MODE,
      pairLegs: e.AUDIOSOCKET_PAIR_LEGS,
      allow,
      limits: { maxConnections: e.AUDIOSOCKET_MAX_CONNECTIONS, maxPerSource: e.AUDIOSOCKET_MAX_PER_SOURCE },
    },
    problems,
    warnings,
  };
}
