import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * Telnyx media streaming frames, as they arrive (snake_case JSON text frames). Sources:
 * - https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
 *   (AsyncAPI: connected, start, media, dtmf, mark, error, stop; client media, mark, clear;
 *   "media frame order is not guaranteed: use media.chunk, media.timestamp and sequence_number")
 * - https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream (TeXML
 *   <Stream>: url, track, codec, bidirectionalMode/Codec/SamplingRate, <Parameter>)
 * - the project's carrier notes (shared/reference/sip-carriers.md §4) and pipecat-ai/pipecat
 *   src/pipecat/serializers/telnyx.py (L16 is big-endian, RFC 2586)
 * Numbers travel as strings in the docs' examples; integers are taken too. Extra properties are
 * allowed: Telnyx adds fields (tags, client_state, occurred_at) and must not break calls by it.
 * Third-party fixtures disagree on `media.track` (`inbound` or `inbound_track`): both are taken.
 */

const Digits = Type.String({ pattern: '^[0-9]{1,15}$' });
/** A counter as a string (docs) or an integer (tolerated). */
const Counter = Type.Union([Digits, Type.Integer({ minimum: 0, maximum: 999_999_999_999_999 })]);
const Id = Type.String({ minLength: 1, maxLength: 128 });
const Track = Type.Union([
  Type.Literal('inbound'),
  Type.Literal('outbound'),
  Type.Literal('inbound_track'),
  Type.Literal('outbound_track'),
]);

export const ConnectedMessage = Type.Object({
  event: Type.Literal('connected'),
  version: Type.Optional(Type.String({ maxLength: 64 })),
});

export const StartMessage = Type.Object({
  event: Type.Literal('start'),
  sequence_number: Type.Optional(Counter),
  stream_id: Id,
  start: Type.Object({
    call_control_id: Id,
    user_id: Type.Optional(Type.String({ maxLength: 128 })),
    call_session_id: Type.Optional(Type.String({ maxLength: 128 })),
    from: Type.Optional(Type.String({ maxLength: 256 })),
    to: Type.Optional(Type.String({ maxLength: 256 })),
    custom_parameters: Type.Optional(Type.Record(Type.String(), Type.String())),
    media_format: Type.Object({
      encoding: Type.String({ maxLength: 32 }),
      sample_rate: Type.Integer(),
      channels: Type.Integer(),
    }),
  }),
});

export const MediaMessage = Type.Object({
  event: Type.Literal('media'),
  sequence_number: Counter,
  stream_id: Id,
  media: Type.Object({
    track: Track,
    chunk: Type.Optional(Counter),
    timestamp: Type.Optional(Counter),
    payload: Type.String({ minLength: 1 }),
  }),
});

export const DtmfMessage = Type.Object({
  event: Type.Literal('dtmf'),
  sequence_number: Type.Optional(Counter),
  stream_id: Type.Optional(Id),
  dtmf: Type.Object({ digit: Type.String({ pattern: '^[0-9*#A-Da-d]$' }) }),
});

export const MarkMessage = Type.Object({
  event: Type.Literal('mark'),
  sequence_number: Type.Optional(Counter),
  stream_id: Type.Optional(Id),
  mark: Type.Object({ name: Type.String({ maxLength: 256 }) }),
});

export const StopMessage = Type.Object({
  event: Type.Literal('stop'),
  sequence_number: Type.Optional(Counter),
  stream_id: Type.Optional(Id),
});

/** The docs name an error frame but not its fields: whatever it carries is logged, cut short. */
export const ErrorMessage = Type.Object({
  event: Type.Literal('error'),
  sequence_number: Type.Optional(Counter),
  stream_id: Type.Optional(Id),
});

export type ConnectedMessage = Static<typeof ConnectedMessage>;
export type StartMessage = Static<typeof StartMessage>;
export type MediaMessage = Static<typeof MediaMessage>;
export type DtmfMessage = Static<typeof DtmfMessage>;
export type MarkMessage = Static<typeof MarkMessage>;
export type StopMessage = Static<typeof StopMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;

export const checkers = {
  connected: TypeCompiler.Compile(ConnectedMessage),
  start: TypeCompiler.Compile(StartMessage),
  media: TypeCompiler.Compile(MediaMessage),
  dtmf: TypeCompiler.Compile(DtmfMessage),
  mark: TypeCompiler.Compile(MarkMessage),
  stop: TypeCompiler.Compile(StopMessage),
  error: TypeCompiler.Compile(ErrorMessage),
} as const;
