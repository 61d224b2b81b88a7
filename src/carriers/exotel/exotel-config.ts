import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** Exotel Voicebot / Stream applet WebSockets (part of EnvSchema; docs/configuration.md lists them). */
export const ExotelEnvProperties = {
  EXOTEL_STREAM_SECRET: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'turns the Exotel edge on (Voicebot / Stream applet): the shared secret the applet URL carries as its Basic password (wss://user:secret@host/exotel/stream) or as ?token=',
    }),
  ),
  EXOTEL_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description:
      'Exotel streams: transcribe (Stream applet), or agent (Voicebot applet; voxline answers); override with ?mode=',
  }),
};

export interface ExotelConfig {
  readonly secret: string;
  readonly mode: CallMode;
}

interface ExotelEnv {
  EXOTEL_STREAM_SECRET?: string;
  EXOTEL_MODE?: CallMode;
}

/** The Exotel edge's settings; undefined: Exotel streams are not taken. */
export function exotelConfigFrom(e: Readonly<Record<string, unknown>>): ConfigPart<ExotelConfig | undefined> {
  const env = e as ExotelEnv;
  if (env.EXOTEL_STREAM_SECRET === undefined) return { value: undefined, problems: [], warnings: [] };
  return {
    value: { secret: env.EXOTEL_STREAM_SECRET, mode: env.EXOTEL_MODE ?? 'transcribe' },
    problems: [],
    warnings: [],
  };
}
