import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** The two rates Vonage streams linear PCM at (docs/carriers/vonage.md). */
export type VonageAudioRate = 8000 | 16000;

/** Vonage media streams (part of EnvSchema; docs/configuration.md lists them). */
export const VonageEnvProperties = {
  VONAGE_SIGNATURE_SECRET: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Vonage signature secret: verifies the signed (JWT) answer and event webhooks and signs the media URL; turns the Vonage edge on',
    }),
  ),
  VONAGE_APPLICATION_ID: Type.Optional(
    Type.String({
      minLength: 1,
      description: "the Vonage application's id: when set, a webhook JWT for another application is refused",
    }),
  ),
  VONAGE_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description: 'Vonage calls: transcribe (listen to the caller), or agent (voxline answers)',
  }),
  VONAGE_AUDIO_RATE: Type.Union([Type.Literal(16000), Type.Literal(8000)], {
    default: 16000,
    description: 'the rate voxline asks Vonage to stream at (audio/l16;rate=…)',
  }),
};

export interface VonageConfig {
  readonly signatureSecret: string;
  readonly applicationId: string | undefined;
  readonly mode: CallMode;
  readonly audioRate: VonageAudioRate;
}

interface VonageEnv {
  VONAGE_SIGNATURE_SECRET?: string;
  VONAGE_APPLICATION_ID?: string;
  VONAGE_MODE?: CallMode;
  VONAGE_AUDIO_RATE?: VonageAudioRate;
}

/** Shorter than this, an HMAC key can be guessed offline from one signed URL. */
const MIN_SECRET_LENGTH = 16;

/** The Vonage edge's settings; undefined: Vonage is not taken. */
export function vonageConfigFrom(e: Readonly<Record<string, unknown>>): ConfigPart<VonageConfig | undefined> {
  const env = e as VonageEnv;
  const secret = env.VONAGE_SIGNATURE_SECRET;
  if (secret === undefined) return { value: undefined, problems: [], warnings: [] };
  const problems: string[] = [];
  if (secret.length < MIN_SECRET_LENGTH) {
    problems.push(
      `VONAGE_SIGNATURE_SECRET: at least ${MIN_SECRET_LENGTH} characters (the dashboard's secrets are 32 or more)`,
    );
  }
  return {
    value: {
      signatureSecret: secret,
      applicationId: env.VONAGE_APPLICATION_ID,
      mode: env.VONAGE_MODE ?? 'transcribe',
      audioRate: env.VONAGE_AUDIO_RATE ?? 16000,
    },
    problems,
    warnings: [],
  };
}
