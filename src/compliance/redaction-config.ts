import { Type } from '@sinclair/typebox';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';
import type { AudioRedactionOptions } from './audio-redaction.js';
import { ENTITY_KINDS, type EntityKind } from './find-entities.js';
import type { RedactionPolicy } from './transcript-redactor.js';

export interface RedactionConfig {
  /** What every call's transcript is redacted of (empty: nothing). */
  readonly kinds: readonly EntityKind[];
  readonly holdMs: number;
  /** Key presses recorded as `*`. */
  readonly dtmf: boolean;
  /** What recordings put over redacted spans and key-press tones; undefined: REDACT_AUDIO=off. */
  readonly audio: AudioRedactionOptions | undefined;
}

/** The call parameter (Twilio `<Parameter>`, a browser call's `parameters`) that asks for more. */
export const REDACT_PARAMETER = 'redact';

export const RedactionEnvProperties = {
  REDACT: Type.String({
    default: '',
    description: `what transcripts are redacted of before anything stores or sends them: a comma list of ${ENTITY_KINDS.join(', ')}, or all (empty: nothing)`,
  }),
  REDACT_HOLD_MS: Type.Integer({
    minimum: 0,
    maximum: 10_000,
    default: 2_000,
    description:
      'how long a final that ends in digits waits for the next utterance (a number read across two)',
  }),
  DTMF_REDACT: Type.Optional(
    Type.Boolean({ description: 'key presses recorded and sent as * (default: on when REDACT is set)' }),
  ),
  REDACT_AUDIO: Type.Union([Type.Literal('silence'), Type.Literal('tone'), Type.Literal('off')], {
    default: 'silence',
    description:
      'with redaction on, what the recording has over each redacted span and key-press tone: silence, a 1 kHz tone, or off (the audio is kept)',
  }),
  REDACT_AUDIO_MAX_HOLD_MS: Type.Integer({
    minimum: 1_000,
    maximum: 600_000,
    default: 30_000,
    description:
      'audio redaction holds each leg’s audio in memory until its transcript is final; audio still unsettled after this long is written silenced (fail closed)',
  }),
};

interface RedactionEnv {
  REDACT: string;
  REDACT_HOLD_MS: number;
  DTMF_REDACT?: boolean;
  REDACT_AUDIO: 'silence' | 'tone' | 'off';
  REDACT_AUDIO_MAX_HOLD_MS: number;
}

export function redactionConfigFrom(e: RedactionEnv): ConfigPart<RedactionConfig> {
  const { kinds, unknown } = parseKinds(e.REDACT);
  const problems = unknown.map(
    (k) => `REDACT: unknown kind ${JSON.stringify(k)} (${ENTITY_KINDS.join(', ')}, all)`,
  );
  return {
    value: {
      kinds,
      holdMs: e.REDACT_HOLD_MS,
      dtmf: e.DTMF_REDACT ?? kinds.length > 0,
      audio:
        e.REDACT_AUDIO === 'off'
          ? undefined
          : { fill: e.REDACT_AUDIO, maxHoldMs: e.REDACT_AUDIO_MAX_HOLD_MS },
    },
    problems,
    warnings: [],
  };
}

function parseKinds(value: string): { kinds: EntityKind[]; unknown: string[] } {
  const kinds = new Set<EntityKind>();
  const unknown: string[] = [];
  for (const entry of commaList(value.toLowerCase())) {
    if (entry === 'all') for (const k of ENTITY_KINDS) kinds.add(k);
    else if ((ENTITY_KINDS as readonly string[]).includes(entry)) kinds.add(entry as EntityKind);
    else unknown.push(entry);
  }
  return { kinds: [...kinds], unknown };
}

/**
 * A call's policy: the configured kinds plus any its `redact` parameter names. A parameter can
 * only ask for more (a SIP header or a carrier's parameter must not switch redaction off).
 */
export function callRedaction(
  config: RedactionConfig,
  parameters: Readonly<Record<string, string>>,
): RedactionPolicy | undefined {
  const kinds = new Set<EntityKind>(config.kinds);
  const asked = parameters[REDACT_PARAMETER];
  if (asked) for (const k of parseKinds(asked).kinds) kinds.add(k);
  return kinds.size > 0 ? { kinds, holdMs: config.holdMs } : undefined;
}
