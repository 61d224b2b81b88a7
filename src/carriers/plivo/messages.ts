import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * Plivo Audio Streaming messages, as they arrive. Sources:
 * - https://plivo.com/docs/voice/audio-streaming/audio-streaming (Stream Event Protocol: start,
 *   media, dtmf, playedStream, clearedAudio; playAudio, checkpoint, clearAudio)
 * - https://www.plivo.com/docs/voice-agents/audio-streaming/concepts/audio-streaming-reference
 *   (media.timestamp: a string, Unix time in ms; media.chunk: a number, per track)
 * - https://docs.plivo.com/docs/voice/xml/audiostream (the <Stream> attributes; bidirectional
 *   streams carry the inbound track only)
 * - https://plivo.com/docs/voice/xml/the-stream-element/checkpoint-event
 * - pipecat-ai/pipecat src/pipecat/serializers/plivo.py; /work/shared/reference/sip-carriers.md §4
 * The docs show `sequenceNumber` and `chunk` as numbers and `timestamp` as a string; third-party
 * code sees either, so each takes a number or a string of digits. `stop` is not in the protocol
 * reference (the socket closing ends a stream) but appears in Plivo's examples, so it is taken.
 * Extra properties are allowed: Plivo may add fields and must not break calls by doing so.
 */

const Count = Type.Union([
  Type.Integer({ minimum: 0, maximum: 1e15 }),
  Type.String({ pattern: '^[0-9]{1,15}$' }),
]);
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Track = Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]);

export const StartMessage = Type.Object({
  event: Type.Literal('start'),
  sequenceNumber: Type.Optional(Count),
  start: Type.Object({
    callId: Id,
    streamId: Id,
    accountId: Type.String({ maxLength: 64 }),
    tracks: Type.Array(Track, { minItems: 1, maxItems: 2, uniqueItems: true }),
    mediaFormat: Type.Object({
      encoding: Type.String({ maxLength: 64 }),
      sampleRate: Type.Integer(),
    }),
  }),
  extra_headers: Type.Optional(Type.String({ maxLength: 2048 })),
});

export const MediaMessage = Type.Object({
  event: Type.Literal('media'),
  sequenceNumber: Type.Optional(Count),
  streamId: Type.Optional(Id),
  media: Type.Object({
    track: Track,
    timestamp: Count,
    chunk: Type.Optional(Count),
    payload: Type.String({ minLength: 1 }),
  }),
});

export const DtmfMessage = Type.Object({
  event: Type.Literal('dtmf'),
  sequenceNumber: Type.Optional(Count),
  streamId: Type.Optional(Id),
  dtmf: Type.Object({ digit: Type.String({ pattern: '^[0-9*#A-D]$' }) }),
});

/** Answers a `checkpoint` once the audio before it has played (it carries no streamId). */
export const PlayedStreamMessage = Type.Object({
  event: Type.Literal('playedStream'),
  sequenceNumber: Type.Optional(Count),
  streamId: Type.Optional(Id),
  name: Type.String({ maxLength: 256 }),
});

/** Answers a `clearAudio`: the queued audio was dropped. */
export const ClearedAudioMessage = Type.Object({
  event: Type.Literal('clearedAudio'),
  sequenceNumber: Type.Optional(Count),
  streamId: Type.Optional(Id),
});

export const StopMessage = Type.Object({
  event: Type.Literal('stop'),
  sequenceNumber: Type.Optional(Count),
  streamId: Type.Optional(Id),
});

export type StartMessage = Static<typeof StartMessage>;
export type MediaMessage = Static<typeof MediaMessage>;
export type DtmfMessage = Static<typeof DtmfMessage>;
export type PlayedStreamMessage = Static<typeof PlayedStreamMessage>;
export type ClearedAudioMessage = Static<typeof ClearedAudioMessage>;
export type StopMessage = Static<typeof StopMessage>;

export const checkers = {
  start: TypeCompiler.Compile(StartMessage),
  media: TypeCompiler.Compile(MediaMessage),
  dtmf: TypeCompiler.Compile(DtmfMessage),
  playedStream: TypeCompiler.Compile(PlayedStreamMessage),
  clearedAudio: TypeCompiler.Compile(ClearedAudioMessage),
  stop: TypeCompiler.Compile(StopMessage),
} as const;
