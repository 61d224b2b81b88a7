import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';

export type AriFormat = 'ulaw' | 'alaw' | 'slin16';

export interface AriOptions {
  /** Asterisk's HTTP server, e.g. http://asterisk:8088 (the /ari paths are added). */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The Stasis application the dialplan hands calls to: `Stasis(<app>)`. */
  readonly app: string;
  /** The address Asterisk sends RTP to (external_host), and voxline's UDP socket binds. */
  readonly rtpHost: string;
  /** One UDP port for every call (0: any free one); streams are told apart by source address:port. */
  readonly rtpPort: number;
  readonly format: AriFormat;
  /** mixed: one externalMedia on the bridge; separate: snoop spy=in and spy=out, one each. */
  readonly legs: 'mixed' | 'separate';
  readonly mode: 'transcribe' | 'agent';
  readonly maxCalls: number;
}

export const AriEnvProperties = {
  ARI_URL: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: "Asterisk's HTTP server for ARI, e.g. http://asterisk:8088 (ARI edge off if unset)",
    }),
  ),
  ARI_USERNAME: Type.String({ default: '', description: 'ARI user (ari.conf)' }),
  ARI_PASSWORD: Type.Optional(Type.String({ description: 'ARI password (ari.conf)' })),
  ARI_APP: Type.String({ minLength: 1, default: 'voxline', description: 'the Stasis application name' }),
  ARI_RTP_HOST: Type.String({
    minLength: 1,
    default: '127.0.0.1',
    description: 'address Asterisk sends externalMedia RTP to (voxline binds it)',
  }),
  ARI_RTP_PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 0,
    description: 'UDP port for externalMedia RTP, all calls (0: any free port)',
  }),
  ARI_FORMAT: Type.Union([Type.Literal('ulaw'), Type.Literal('alaw'), Type.Literal('slin16')], {
    default: 'ulaw',
    description: 'externalMedia format',
  }),
  ARI_LEGS: Type.Union([Type.Literal('mixed'), Type.Literal('separate')], {
    default: 'mixed',
    description: 'mixed: the bridge as one leg; separate: snoop spy=in / spy=out, one leg each',
  }),
  ARI_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description: 'ARI calls: transcribe, or agent (voxline answers; mixed legs only)',
  }),
  ARI_MAX_CALLS: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 1024,
    description: 'ARI calls held at once; a StasisStart past it is refused (counted)',
  }),
};

interface AriEnv {
  ARI_URL?: string;
  ARI_USERNAME: string;
  ARI_PASSWORD?: string;
  ARI_APP: string;
  ARI_RTP_HOST: string;
  ARI_RTP_PORT: number;
  ARI_FORMAT: AriFormat;
  ARI_LEGS: 'mixed' | 'separate';
  ARI_MODE: 'transcribe' | 'agent';
  ARI_MAX_CALLS: number;
}

export function ariConfigFrom(e: AriEnv): ConfigPart<AriOptions | undefined> {
  if (e.ARI_URL === undefined) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  if (!e.ARI_USERNAME || !e.ARI_PASSWORD)
    problems.push('ARI_URL is set: ARI_USERNAME and ARI_PASSWORD are required');
  if (e.ARI_MODE === 'agent' && e.ARI_LEGS === 'separate') {
    problems.push('ARI_MODE=agent and ARI_LEGS=separate: agent mode plays into a mixed call only');
  }
  return {
    value: {
      url: e.ARI_URL.replace(/\/+$/, ''),
      username: e.ARI_USERNAME,
      password: e.ARI_PASSWORD ?? '',
      app: e.ARI_APP,
      rtpHost: e.ARI_RTP_HOST,
      rtpPort: e.ARI_RTP_PORT,
      format: e.ARI_FORMAT,
      legs: e.ARI_LEGS,
      mode: e.ARI_MODE,
      maxCalls: e.ARI_MAX_CALLS,
    },
    problems,
    warnings: [],
  };
}
