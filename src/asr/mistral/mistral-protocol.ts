import { type Static, Type } from '@sinclair/typebox';
import { jsonEventParser } from '../json-event-parser.js';

/**
 * Mistral's hosted realtime transcription events (reference: docs/protocols/voxtral.md §3.2, from the SDK schemas).
 * Events the SDK knows but realtime-2602 is not documented to send are accepted and ignored.
 */
const Session = Type.Object({
  type: Type.Union([Type.Literal('session.created'), Type.Literal('session.updated')]),
});
const TextDelta = Type.Object({ type: Type.Literal('transcription.text.delta'), text: Type.String() });
const Done = Type.Object({ type: Type.Literal('transcription.done'), text: Type.String() });
const ServerError = Type.Object({
  type: Type.Literal('error'),
  error: Type.Object({
    // The docs show a string; the SDK allows an object.
    message: Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())]),
    code: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
  }),
});
const Other = Type.Object({
  type: Type.Union([Type.Literal('transcription.language'), Type.Literal('transcription.segment')]),
});
const MistralServerEvent = Type.Union([Session, TextDelta, Done, ServerError, Other]);
export type MistralServerEvent = Static<typeof MistralServerEvent>;

export const parseMistralEvent = jsonEventParser(MistralServerEvent);

export type MistralAudioFormat = 'pcm16' | 'mulaw';

export const mistralMessages = {
  sessionUpdate: (format: MistralAudioFormat, delayMs: number) =>
    JSON.stringify({
      type: 'session.update',
      session: {
        audio_format:
          format === 'mulaw'
            ? { encoding: 'pcm_mulaw', sample_rate: 8000 }
            : { encoding: 'pcm_s16le', sample_rate: 16000 },
        target_streaming_delay_ms: delayMs,
      },
    }),
  append: (audio: Buffer) => `{"type":"input_audio.append","audio":"${audio.toString('base64')}"}`,
  /** Non-terminal: the server finishes the segment with `transcription.done` and keeps the session. */
  flush: '{"type":"input_audio.flush"}',
  /** Terminal: no more audio on this session. */
  end: '{"type":"input_audio.end"}',
} as const;
