import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../../config-part.js';
import type { CallMode } from '../carrier.js';

/** The two rates both modules stream at (`8k`, `16k` in the start command). */
export type ForkRate = 8000 | 16000;
/** `mono`: the caller; `stereo`: caller (ch0) and callee (ch1) interleaved; `mixed`: both in one. */
export type ForkMix = 'mono' | 'stereo' | 'mixed';

/** A route path: what the operator types into the fork URL. */
export const ROUTE_PATH = '^/[A-Za-z0-9/_.-]{1,100}$';

/** FreeSWITCH media forks (part of EnvSchema; docs/configuration.md lists them). */
export const FreeSwitchEnvProperties = {
  FREESWITCH_STREAM_SECRET: Type.Optional(
    Type.String({
      minLength: 16,
      description:
        'turns the FreeSWITCH edge on (mod_audio_stream and mod_audio_fork): the shared secret each fork sends as Basic password, Bearer token or ?token=',
    }),
  ),
  FREESWITCH_STREAM_PATH: Type.String({
    pattern: ROUTE_PATH,
    default: '/freeswitch/stream',
    description: 'the WebSocket path FreeSWITCH forks connect to',
  }),
  FREESWITCH_MODE: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')], {
    default: 'transcribe',
    description:
      'FreeSWITCH forks: transcribe, or agent (voxline answers; needs mix mono); override with ?mode=',
  }),
  FREESWITCH_AUDIO_RATE: Type.Union([Type.Literal(8000), Type.Literal(16000)], {
    default: 8000,
    description:
      'the rate forks stream at unless their URL says ?rate= (the stream itself does not announce it: keep it equal to the command’s 8k/16k)',
  }),
  FREESWITCH_MIX: Type.Union([Type.Literal('mono'), Type.Literal('stereo'), Type.Literal('mixed')], {
    default: 'mono',
    description:
      'the mix-type forks use unless their URL says ?mix= (mono: caller; stereo: caller and callee; mixed: one leg)',
  }),
  FREESWITCH_MIXED_LABEL: Type.String({
    pattern: '^[A-Za-z0-9_-]{1,32}$',
    default: 'mixed',
    description: 'the speaker label of a mixed fork’s one leg',
  }),
};

export interface FreeSwitchConfig {
  readonly secret: string;
  readonly path: string;
  readonly mode: CallMode;
  readonly rate: ForkRate;
  readonly mix: ForkMix;
  readonly mixedLabel: string;
}

interface FreeSwitchEnv {
  FREESWITCH_STREAM_SECRET?: string;
  FREESWITCH_STREAM_PATH?: string;
  FREESWITCH_MODE?: CallMode;
  FREESWITCH_AUDIO_RATE?: ForkRate;
  FREESWITCH_MIX?: ForkMix;
  FREESWITCH_MIXED_LABEL?: string;
}

/** The FreeSWITCH edge's settings; undefined: FreeSWITCH forks are not taken. */
export function freeSwitchConfigFrom(
  e: Readonly<Record<string, unknown>>,
): ConfigPart<FreeSwitchConfig | undefined> {
  const env = e as FreeSwitchEnv;
  if (env.FREESWITCH_STREAM_SECRET === undefined) return { value: undefined, problems: [], warnings: [] };
  const mode = env.FREESWITCH_MODE ?? 'transcribe';
  const mix = env.FREESWITCH_MIX ?? 'mono';
  const problems: string[] = [];
  if (mode === 'agent' && mix !== 'mono') {
    problems.push(
      `FREESWITCH_MODE=agent takes FREESWITCH_MIX=mono (a ${mix} fork carries what the agent says back)`,
    );
  }
  return {
    value: {
      secret: env.FREESWITCH_STREAM_SECRET,
      path: env.FREESWITCH_STREAM_PATH ?? '/freeswitch/stream',
      mode,
      rate: env.FREESWITCH_AUDIO_RATE ?? 8000,
      mix,
      mixedLabel: env.FREESWITCH_MIXED_LABEL ?? 'mixed',
    },
    problems,
    warnings: [],
  };
}
