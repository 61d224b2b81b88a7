import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import { isHttpUrl } from '../../http-url.js';
import type { CallMode } from '../carrier.js';

/** 32 bytes in standard base64: how the Telnyx portal shows the webhook public key. */
const ED25519_KEY_BASE64 = '^[A-Za-z0-9+/]{43}=$';

/** Telnyx media streams (part of EnvSchema; docs/configuration.md lists them). */
export const TelnyxEnvProperties = {
  TELNYX_PUBLIC_KEY: Type.Optional(
    Type.String({
      pattern: ED25519_KEY_BASE64,
      description:
        'turns the Telnyx edge on: the base64 Ed25519 public key (portal: Keys & Credentials) that verifies telnyx-signature-ed25519 on /telnyx/texml and /telnyx/status',
    }),
  ),
  TELNYX_STREAM_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      description:
        'signs the per-call token in the stream URL voxline answers with (unset: a random secret per process, so every instance behind one number needs the same value)',
    }),
  ),
  TELNYX_SIGNATURE_TOLERANCE_S: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 300,
    description: 'a signed Telnyx webhook whose telnyx-timestamp is further than this from now is refused',
  }),
  TELNYX_STREAM_TOKEN_TTL_S: Type.Integer({
    minimum: 5,
    maximum: 3600,
    default: 120,
    description: 'how long after the TeXML answer its stream URL may be opened',
  }),
  TELNYX_MODE: Type.Optional(
    Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
      description: 'default mode of /telnyx/texml (default CALL_MODE; override per number with ?mode=)',
    }),
  ),
  TELNYX_CODEC: Type.Union([Type.Literal('PCMU'), Type.Literal('PCMA'), Type.Literal('G722')], {
    default: 'PCMU',
    description:
      'codec the stream asks Telnyx for, both ways in agent mode (G722: wideband, 16 kHz each way; Opus and AMR-WB are refused)',
  }),
  TELNYX_DIAL: Type.Optional(
    Type.String({
      pattern: '^(\\+?[0-9]{3,20}|sips?:[^\\s<>"]{3,200})$',
      description:
        'transcribe mode: number or SIP URI to dial once the stream has started (else the call is held)',
    }),
  ),
  TELNYX_CONTINUE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'transcribe mode: TeXML URL to redirect to once the stream has started',
    }),
  ),
};

export type TelnyxCodec = 'PCMU' | 'PCMA' | 'G722';

export interface TelnyxConfig {
  /** The raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  /** HMAC key of the stream tokens (a string: the config is deep-frozen, a Buffer cannot be). */
  readonly streamSecret: string;
  readonly signatureToleranceS: number;
  readonly streamTokenTtlS: number;
  /** TELNYX_MODE, else CALL_MODE. */
  readonly mode: CallMode;
  readonly codec: TelnyxCodec;
  readonly dial: string | undefined;
  readonly continueUrl: string | undefined;
}

interface TelnyxEnv {
  TELNYX_PUBLIC_KEY?: string;
  TELNYX_STREAM_SECRET?: string;
  TELNYX_SIGNATURE_TOLERANCE_S?: number;
  TELNYX_STREAM_TOKEN_TTL_S?: number;
  TELNYX_MODE?: CallMode;
  CALL_MODE?: CallMode;
  TELNYX_CODEC?: TelnyxCodec;
  TELNYX_DIAL?: string;
  TELNYX_CONTINUE_URL?: string;
}

/** The Telnyx edge's settings; undefined (not taken) until TELNYX_PUBLIC_KEY is set. */
export function telnyxConfigFrom(e: Readonly<Record<string, unknown>>): ConfigPart<TelnyxConfig | undefined> {
  const env = e as TelnyxEnv;
  if (!env.TELNYX_PUBLIC_KEY) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  const warnings: string[] = [];
  if (env.TELNYX_DIAL && env.TELNYX_CONTINUE_URL) {
    problems.push('TELNYX_DIAL and TELNYX_CONTINUE_URL: set one or the other, not both');
  }
  if (env.TELNYX_CONTINUE_URL && !isHttpUrl(env.TELNYX_CONTINUE_URL)) {
    problems.push(
      `TELNYX_CONTINUE_URL: must be an http(s) URL (got ${JSON.stringify(env.TELNYX_CONTINUE_URL)})`,
    );
  }
  if (!env.TELNYX_STREAM_SECRET) {
    warnings.push(
      'TELNYX_STREAM_SECRET is not set: stream tokens are signed with a secret of this process only, so a stream that reaches another instance (or this one after a restart) is refused',
    );
  }
  return {
    value: {
      publicKey: env.TELNYX_PUBLIC_KEY,
      streamSecret: env.TELNYX_STREAM_SECRET ?? randomBytes(32).toString('base64'),
      signatureToleranceS: env.TELNYX_SIGNATURE_TOLERANCE_S ?? 300,
      streamTokenTtlS: env.TELNYX_STREAM_TOKEN_TTL_S ?? 120,
      mode: env.TELNYX_MODE ?? env.CALL_MODE ?? 'transcribe',
      codec: env.TELNYX_CODEC ?? 'PCMU',
      dial: env.TELNYX_DIAL,
      continueUrl: env.TELNYX_CONTINUE_URL,
    },
    problems,
    warnings,
  };
}
