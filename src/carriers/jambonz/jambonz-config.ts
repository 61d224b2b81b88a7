import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';
import { ROUTE_PATH } from '../freeswitch/freeswitch-config.js';

/** jambonz `listen` verb WebSockets (part of EnvSchema; docs/configuration.md lists them). */
export const JambonzEnvProperties = {
  JAMBONZ_STREAM_SECRET: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'turns the jambonz edge on (the listen verb): the shared secret each listen sends as wsAuth.password (HTTP Basic), or as Bearer or ?token=',
    }),
  ),
  JAMBONZ_USERNAME: Type.Optional(
    Type.String({
      pattern: '^[^:\\s]{1,64}$',
      description: 'when set, the Basic username jambonz sends (wsAuth.username) must be this one',
    }),
  ),
  JAMBONZ_STREAM_PATH: Type.String({
    pattern: ROUTE_PATH,
    default: '/jambonz/listen',
    description: 'the WebSocket path the listen verb’s url points at',
  }),
  JAMBONZ_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description:
      'jambonz listens: transcribe, or agent (voxline answers through bidirectionalAudio streaming; needs mixType mono); override with ?mode=',
  }),
  JAMBONZ_MIXED_LABEL: Type.String({
    pattern: '^[A-Za-z0-9_-]{1,32}$',
    default: 'mixed',
    description: 'the speaker label of a mixType=mixed listen’s one leg',
  }),
};

export interface JambonzConfig {
  readonly secret: string;
  readonly username: string | undefined;
  readonly path: string;
  readonly mode: CallMode;
  readonly mixedLabel: string;
}

interface JambonzEnv {
  JAMBONZ_STREAM_SECRET?: string;
  JAMBONZ_USERNAME?: string;
  JAMBONZ_STREAM_PATH?: string;
  JAMBONZ_MODE?: CallMode;
  JAMBONZ_MIXED_LABEL?: string;
}

/** The jambonz edge's settings; undefined: listen WebSockets are not taken. */
export function jambonzConfigFrom(
  e: Readonly<Record<string, unknown>>,
): ConfigPart<JambonzConfig | undefined> {
  const env = e as JambonzEnv;
  if (env.JAMBONZ_STREAM_SECRET === undefined) return { value: undefined, problems: [], warnings: [] };
  return {
    value: {
      secret: env.JAMBONZ_STREAM_SECRET,
      username: env.JAMBONZ_USERNAME,
      path: env.JAMBONZ_STREAM_PATH ?? '/jambonz/listen',
      mode: env.JAMBONZ_MODE ?? 'transcribe',
      mixedLabel: env.JAMBONZ_MIXED_LABEL ?? 'mixed',
    },
    problems: [],
    warnings: [],
  };
}
