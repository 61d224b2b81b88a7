import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Ms, Word } from './event-fields.js';
import { POSTCALL_EVENT_DATA } from './postcall-event-data.js';

/**
 * Every webhook event voxline sends: an envelope (id, type, callSid, gapless per-call seq,
 * occurredAt, version) around a typed `data`. webhooks/schemas/*.json are generated from these
 * (`npm run webhooks:schemas`); a test keeps them identical and validates emitted events against them.
 */
export const EVENT_VERSION = 1;

const Utterance = Type.Object(
  {
    speaker: Type.String(),
    text: Type.String(),
    startMs: Ms,
    endMs: Ms,
    words: Type.Array(Word),
    recovered: Type.Boolean({ description: 'the engine connection dropped and the audio was re-sent' }),
    interrupted: Type.Optional(
      Type.Boolean({ description: 'agent speech cut by a barge-in: the text is what the caller heard' }),
    ),
    delayed: Type.Optional(
      Type.Boolean({
        description:
          'in-process engine: the final came long after its speech ended (the model was behind or busy); the text is complete',
      }),
    ),
    lagMs: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'in-process engine: ms from the end of the speech to the final',
      }),
    ),
  },
  { additionalProperties: false },
);
const Latency = Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'ms' });
const AgentAction = {
  action: Type.Union([Type.Literal('end_call'), Type.Literal('transfer_call')]),
  destination: Type.Optional(Type.String({ description: 'transfer_call: the configured destination name' })),
  target: Type.Optional(Type.String({ description: 'transfer_call: the number or SIP URI dialled' })),
  reason: Type.String(),
  ok: Type.Boolean(),
  error: Type.Optional(Type.String()),
  atMs: Ms,
};
const AgentSummary = Type.Object(
  {
    brain: Type.String(),
    tts: Type.String(),
    turns: Type.Array(
      Type.Object(
        {
          trigger: Type.String(),
          status: Type.Union(['played', 'interrupted', 'cancelled', 'failed'].map((s) => Type.Literal(s))),
          latency: Type.Union([
            Type.Object(
              {
                endOfSpeechToFinalMs: Latency,
                finalToFirstTokenMs: Latency,
                firstTokenToFirstAudioMs: Latency,
                firstAudioToFirstFrameMs: Latency,
                endOfSpeechToFirstFrameMs: Latency,
                earlyStart: Type.Boolean(),
              },
              { additionalProperties: false },
            ),
            Type.Null(),
          ]),
        },
        { additionalProperties: false },
      ),
    ),
    bargeIns: Type.Array(
      Type.Object({ atMs: Ms, reactionMs: Type.Number({ minimum: 0 }) }, { additionalProperties: false }),
    ),
    actions: Type.Array(Type.Object(AgentAction, { additionalProperties: false })),
  },
  { additionalProperties: false, description: 'agent calls: the voice agent’s turns, barge-ins and actions' },
);

const data = {
  'call.started': Type.Object(
    {
      ingress: Type.Union(
        [
          Type.Literal('twilio'),
          Type.Literal('sip'),
          Type.Literal('siprec'),
          Type.Literal('audiosocket'),
          Type.Literal('browser'),
          Type.Literal('telnyx'),
          Type.Literal('plivo'),
          Type.Literal('vonage'),
          Type.Literal('freeswitch'),
          Type.Literal('asterisk-ws'),
          Type.Literal('signalwire'),
          Type.Literal('jambonz'),
          Type.Literal('exotel'),
          Type.Literal('ari'),
        ],
        { description: 'how the call reached voxline' },
      ),
      streamSid: Type.String({
        description: 'Twilio streamSid; SIP/SIPREC: the dialog (Call-ID;tag); AudioSocket: the UUID',
      }),
      accountSid: Type.Optional(Type.String({ description: 'Twilio only' })),
      mode: Type.Union([Type.Literal('transcribe'), Type.Literal('agent')]),
      legs: Type.Array(
        Type.Object({ speaker: Type.String(), track: Type.String() }, { additionalProperties: false }),
      ),
      participants: Type.Optional(
        Type.Array(
          Type.Object(
            {
              role: Type.String({ description: 'the speaker label, or `party` when none applies' }),
              name: Type.Optional(Type.String()),
              address: Type.Optional(Type.String({ description: 'SIP URI or number' })),
            },
            { additionalProperties: false },
          ),
          { description: 'SIP: From and To; SIPREC: the recording metadata participants' },
        ),
      ),
      customParameters: Type.Record(Type.String(), Type.String()),
      startedAt: Type.String({ format: 'date-time' }),
    },
    { additionalProperties: false },
  ),
  'transcript.partial': Type.Object(
    { speaker: Type.String(), utteranceId: Type.Integer(), text: Type.String(), startMs: Ms, audioMs: Ms },
    { additionalProperties: false },
  ),
  'transcript.final': Type.Object(
    { ...Utterance.properties, utteranceId: Type.Integer(), engine: Type.String() },
    { additionalProperties: false },
  ),
  dtmf: Type.Object(
    {
      digit: Type.String({ pattern: '^[0-9*#A-D]$' }),
      speaker: Type.String(),
      atMs: Type.Union([Ms, Type.Null()]),
    },
    { additionalProperties: false },
  ),
  'call.ended': Type.Object(
    {
      endReason: Type.String(),
      startedAt: Type.String({ format: 'date-time' }),
      endedAt: Type.String({ format: 'date-time' }),
      durationMs: Ms,
      transcript: Type.Array(Utterance),
      talkTimeMs: Type.Record(Type.String(), Ms, { description: 'speech per speaker (utterance spans)' }),
      overlaps: Type.Array(
        Type.Object(
          { startMs: Ms, endMs: Ms, speakers: Type.Array(Type.String()) },
          { additionalProperties: false },
        ),
      ),
      interruptions: Type.Array(
        Type.Object(
          { atMs: Ms, speaker: Type.String({ description: 'who cut in' }), interrupted: Type.String() },
          { additionalProperties: false },
        ),
      ),
      longestSilenceMs: Ms,
      transcriptionErrors: Type.Integer({ minimum: 0 }),
      agent: Type.Optional(AgentSummary),
      pauses: Type.Optional(
        Type.Array(
          Type.Object({ startMs: Ms, endMs: Ms, by: Type.String() }, { additionalProperties: false }),
          { description: 'spans when recording and transcription were paused (secure mode)' },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  'agent.action': Type.Object(AgentAction, { additionalProperties: false }),
  'recording.paused': Type.Object(
    { atMs: Ms, by: Type.String({ description: 'api, or parameter (the call started paused)' }) },
    { additionalProperties: false },
  ),
  'recording.resumed': Type.Object({ atMs: Ms, by: Type.String() }, { additionalProperties: false }),
  'recording.ready': Type.Object(
    {
      url: Type.String(),
      sha256: Type.String({
        pattern: '^[0-9a-f]{64}$',
        description: 'of the WAV as served (decrypted, for an encrypted recording)',
      }),
      durationMs: Ms,
      bytes: Type.Integer({ minimum: 0, description: 'size of the WAV as served' }),
      format: Type.Union([Type.Literal('pcm16'), Type.Literal('mulaw')]),
      sampleRate: Type.Integer(),
      channels: Type.Array(Type.String(), { description: 'speaker per channel: left, right' }),
      redaction: Type.Optional(
        Type.Object(
          {
            maskedMs: Type.Integer({
              minimum: 0,
              description:
                'channel-ms written as silence (or a tone) over redacted words and key-press tones',
            }),
            withheldMs: Type.Integer({
              minimum: 0,
              description:
                'channel-ms written masked because their transcript was not final in time (REDACT_AUDIO_MAX_HOLD_MS, or the end of the call): fail closed',
            }),
          },
          {
            additionalProperties: false,
            description: 'present when the recording is redacted (REDACT_AUDIO)',
          },
        ),
      ),
      encrypted: Type.Optional(
        Type.Object(
          {
            keyId: Type.String({
              description: 'the master key (ENCRYPTION_KEY id) its data key is wrapped under',
            }),
          },
          {
            additionalProperties: false,
            description:
              'present when the recording is encrypted at rest (ENCRYPTION_KEY): the file, and the s3:// object, are sealed; GET /v1/calls/:callSid/recording serves the WAV, whose sha256 and bytes these are',
          },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  'call.dialed': Type.Object(
    {
      dialId: Type.String({ pattern: '^dial_[0-9a-f]{24}$', description: 'also the envelope’s callSid' }),
      carrier: Type.Union([Type.Literal('twilio'), Type.Literal('telnyx'), Type.Literal('sip')]),
      to: Type.String(),
      from: Type.String(),
      outcome: Type.Union(
        ['answered', 'busy', 'no-answer', 'failed', 'machine', 'canceled'].map((o) => Type.Literal(o)),
        { description: 'machine: answered, by an answering machine (detectMachine); the call goes on' },
      ),
      detail: Type.Optional(
        Type.String({
          description: 'the carrier’s reason: Twilio CallStatus, Telnyx hangup_cause, SIP status',
        }),
      ),
      status: Type.Optional(Type.Integer({ description: 'the SIP status code of a refused INVITE' })),
      callSid: Type.Optional(
        Type.String({ description: 'answered (or machine): the call’s callSid, as in its own events' }),
      ),
      answeredBy: Type.Optional(
        Type.Union([Type.Literal('human'), Type.Literal('machine'), Type.Literal('unknown')], {
          description: 'with detectMachine: who the carrier says answered',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  ...POSTCALL_EVENT_DATA,
};

export type EventType = keyof typeof data;
export const EVENT_TYPES = Object.keys(data) as EventType[];
export type EventData<T extends EventType> = Static<(typeof data)[T]>;

function envelope<T extends EventType>(type: T) {
  return Type.Object(
    {
      id: Type.String({
        pattern: '^evt_[0-9a-f]{32}$',
        description: 'also the webhook-id header: dedupe on it',
      }),
      type: Type.Literal(type),
      version: Type.Literal(EVENT_VERSION),
      callSid: Type.String(),
      seq: Type.Integer({ minimum: 1, description: 'gapless and increasing per call' }),
      occurredAt: Type.String({ format: 'date-time' }),
      data: data[type] as TSchema,
    },
    { $id: `https://voxline.dev/schemas/${type}.json`, title: type, additionalProperties: false },
  );
}

export const EVENT_SCHEMAS = Object.fromEntries(
  EVENT_TYPES.map((t) => [t, envelope(t)]),
) as unknown as Record<EventType, TSchema>;

export interface WebhookEvent<T extends EventType = EventType> {
  readonly id: string;
  readonly type: T;
  readonly version: typeof EVENT_VERSION;
  readonly callSid: string;
  readonly seq: number;
  readonly occurredAt: string;
  readonly data: EventData<T>;
}
