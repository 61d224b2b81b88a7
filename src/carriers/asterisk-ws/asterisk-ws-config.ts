import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** Asterisk chan_websocket (part of EnvSchema; docs/configuration.md lists them). */
export const AsteriskWsEnvProperties = {
  ASTERISK_WS_SECRET: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'turns the Asterisk chan_websocket edge on: the shared secret Asterisk sends (websocket_client.conf password, as HTTP Basic), or as Bearer or ?token=',
    }),
  ),
  ASTERISK_WS_USERNAME: Type.Optional(
    Type.String({
      pattern: '^[^:\\s]{1,64}$',
      description:
        'when set, the Basic username Asterisk sends must be this one (websocket_client.conf username)',
    }),
  ),
  ASTERISK_WS_PATH: Type.String({
    pattern: '^/[A-Za-z0-9/_.-]{1,100}$',
    default: '/asterisk/media',
    description: 'the WebSocket path Asterisk connects to (the websocket_client.conf uri)',
  }),
  ASTERISK_WS_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description:
      'Asterisk media sockets: transcribe, or agent (voxline answers); override with ?mode= (v() in the dial string)',
  }),
};

export interface AsteriskWsConfig {
  readonly secret: string;
  readonly username: string | undefined;
  readonly path: string;
  readonly mode: CallMode;
}

interface AsteriskWsEnv {
  ASTERISK_WS_SECRET?: string;
  ASTERISK_WS_USERNAME?: string;
  ASTERISK_WS_PATH?: string;
  ASTERISK_WS_MODE?: CallMode;
}

/** The chan_websocket edge's settings; undefined: Asterisk media sockets are not taken. */
export function asteriskWsConfigFrom(
  e: Readonly<Record<string, unknown>>,
): ConfigPart<AsteriskWsConfig | undefined> {
  const env = e as AsteriskWsEnv;
  if (env.ASTERISK_WS_SECRET === undefined) return { value: undefined, problems: [], warnings: [] };
  return {
    value: {
      secret: env.ASTERISK_WS_SECRET,
      username: env.ASTERISK_WS_USERNAME,
      path: env.ASTERISK_WS_PATH ?? '/asterisk/media',
      mode: env.ASTERISK_WS_MODE ?? 'transcribe',
    },
    problems: [],
    warnings: [],
  };
}
