import { Type } from '@sinclair/typebox';
import { Ms, Word } from './event-fields.js';

const RefinedUtterance = Type.Object(
  {
    speaker: Type.String({ description: 'voxline’s speaker: the channel’s leg (caller, agent, mixed)' }),
    subSpeaker: Type.Union([Type.String(), Type.Null()], {
      description: 'the diarized voice inside the channel (`caller.1`, `caller.2`), null when not diarized',
    }),
    text: Type.String(),
    startMs: Ms,
    endMs: Ms,
    words: Type.Array(Word),
  },
  { additionalProperties: false },
);

/**
 * The data of the events that are not the live call's own media: live alerts, and what comes
 * after the call (docs/postcall.md). event-schemas.ts puts them in their envelopes.
 */
export const POSTCALL_EVENT_DATA = {
  'transcript.alert': Type.Object(
    {
      ruleId: Type.String({ description: 'the rule’s id in ALERT_RULES_FILE' }),
      kind: Type.Union([Type.Literal('phrase'), Type.Literal('missed_disclosure')]),
      severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
      speaker: Type.Union([Type.String(), Type.Null()], { description: 'null for a missed disclosure' }),
      phrase: Type.Union([Type.String(), Type.Null()], { description: 'the phrase (or regex) that matched' }),
      text: Type.String({
        description: 'the utterance so far (redacted like the transcript); empty when missed',
      }),
      utteranceId: Type.Union([Type.Integer(), Type.Null()]),
      atMs: Ms,
      source: Type.Union([Type.Literal('partial'), Type.Literal('final'), Type.Literal('deadline')], {
        description: 'what raised it: a partial (within its latency), a final, or a disclosure’s deadline',
      }),
    },
    { additionalProperties: false },
  ),
  'transcript.refined': Type.Object(
    {
      url: Type.String({ description: 'GET it (with ?format=vtt|srt|txt|json) from voxline' }),
      engine: Type.String({ description: 'mistral or openai (POSTCALL_ENGINE)' }),
      model: Type.String(),
      language: Type.Union([Type.String(), Type.Null()]),
      utterances: Type.Array(RefinedUtterance),
      contextBias: Type.Array(Type.String(), { description: 'terms the engine was biased towards' }),
      channels: Type.Integer({ minimum: 0 }),
      chunks: Type.Integer({
        minimum: 0,
        description: 'requests the recording took (split at quiet points)',
      }),
      agreement: Type.Object(
        {
          wer: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
            description:
              'word error rate of the live transcript against this one: a quality signal without labels',
          }),
          perSpeaker: Type.Record(Type.String(), Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
          referenceWords: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
  'call.analyzed': Type.Object(
    {
      model: Type.String(),
      source: Type.Union([Type.Literal('refined'), Type.Literal('live')], {
        description: 'the transcript the model read',
      }),
      summary: Type.String(),
      reason: Type.String({ description: 'why the caller called' }),
      outcome: Type.Union(
        ['resolved', 'unresolved', 'escalated', 'callback', 'sale', 'other'].map((v) => Type.Literal(v)),
      ),
      sentiment: Type.Array(
        Type.Object(
          {
            speaker: Type.String(),
            sentiment: Type.Union(['positive', 'neutral', 'negative', 'mixed'].map((v) => Type.Literal(v))),
            score: Type.Number({ minimum: -1, maximum: 1 }),
          },
          { additionalProperties: false },
        ),
      ),
      actionItems: Type.Array(
        Type.Object(
          { owner: Type.Union([Type.String(), Type.Null()]), text: Type.String() },
          { additionalProperties: false },
        ),
      ),
      custom: Type.Optional(
        Type.Record(Type.String(), Type.Unknown(), {
          description: 'present exactly when ANALYSIS_SCHEMA_FILE is set: its fields, validated against it',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  'postcall.failed': Type.Object(
    {
      stage: Type.Union([Type.Literal('refine'), Type.Literal('analyze')]),
      code: Type.String({
        description: 'VL_ERR_BATCH_ENGINE, VL_ERR_BATCH_REJECTED, VL_ERR_ANALYSIS_FAILED, …',
      }),
      message: Type.String(),
      attempts: Type.Integer({ minimum: 0 }),
    },
    {
      additionalProperties: false,
      description: 'the call record and live transcript are kept; this part is missing',
    },
  ),
};
