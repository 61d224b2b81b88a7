import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** Plivo media streams (part of EnvSchema; docs/configuration.md lists them). */
export const PlivoEnvProperties = {
  PLIVO_AUTH_TOKEN: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'turns the Plivo edge on: checks X-Plivo-Signature-V3 on /plivo/answer and signs the per-call stream token',
    }),
  ),
  PLIVO_AUTH_ID: Type.Optional(
    Type.String({
      pattern: '^[A-Z0-9]{8,40}$',
      description: 'when set, a stream whose start.accountId differs is refused',
    }),
  ),
  PLIVO_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description: 'default mode of /plivo/answer (override per number with ?mode=)',
  }),
  PLIVO_DIAL: Type.Optional(
    Type.String({
      pattern: '^\\+?[0-9]{3,20}$',
      description:
        'transcribe mode: number to dial once the stream has started (else the stream holds the call)',
    }),
  ),
  PLIVO_STREAM_TIMEOUT_S: Type.Integer({
    minimum: 60,
    maximum: 86_400,
    default: 86_400,
    description: 'streamTimeout of the Plivo XML stream voxline answers with: streaming stops after this',
  }),
};

export interface PlivoConfig {
  readonly authToken: string;
  readonly authId: string | undefined;
  readonly mode: CallMode;
  readonly dial: string | undefined;
  readonly streamTimeoutS: number;
}

interface PlivoEnv {
  PLIVO_AUTH_TOKEN?: string;
  PLIVO_AUTH_ID?: string;
  PLIVO_MODE?: CallMode;
  PLIVO_DIAL?: string;
  PLIVO_STREAM_TIMEOUT_S?: number;
}

/** The Plivo edge's settings; undefined (not taken) until PLIVO_AUTH_TOKEN is set. */
export function plivoConfigFrom(e: Readonly<Record<string, unknown>>): ConfigPart<PlivoConfig | undefined> {
  const env = e as PlivoEnv;
  if (!env.PLIVO_AUTH_TOKEN) return { value: undefined, problems: [], warnings: [] };
  const warnings: string[] = [];
  if (env.PLIVO_MODE === 'agent' && env.PLIVO_DIAL) {
    warnings.push('PLIVO_DIAL is not used in agent mode: voxline answers the caller itself');
  }
  return {
    value: {
      authToken: env.PLIVO_AUTH_TOKEN,
      authId: env.PLIVO_AUTH_ID,
      mode: env.PLIVO_MODE ?? 'transcribe',
      dial: env.PLIVO_DIAL,
      streamTimeoutS: env.PLIVO_STREAM_TIMEOUT_S ?? 86_400,
    },
    problems: [],
    warnings,
  };
}
