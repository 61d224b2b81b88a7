import { type Static, Type } from '@sinclair/typebox';
import { jsonEventParser } from '../json-event-parser.js';

/**
 * vLLM's `/v1/realtime` server events, as its connection code sends them (reference: docs/protocols/voxtral.md §2.5).
 * Extra fields (`usage`, `language`, `segments`) are allowed and ignored.
 */
const SessionCreated = Type.Object({ type: Type.Literal('session.created'), id: Type.String() });
const Delta = Type.Object({ type: Type.Literal('transcription.delta'), delta: Type.String() });
const Done = Type.Object({ type: Type.Literal('transcription.done'), text: Type.String() });
const ServerError = Type.Object({
  type: Type.Literal('error'),
  error: Type.String(),
  code: Type.Union([Type.String(), Type.Null()]),
});
const VllmServerEvent = Type.Union([SessionCreated, Delta, Done, ServerError]);
export type VllmServerEvent = Static<typeof VllmServerEvent>;

export const parseVllmEvent = jsonEventParser(VllmServerEvent);

/** Client events, exactly as vLLM expects them. Appends are built by hand: they are the hot path. */
export const vllmMessages = {
  sessionUpdate: (model: string) => JSON.stringify({ type: 'session.update', model }),
  /** Starts a generation (a new utterance). */
  commit: '{"type":"input_audio_buffer.commit"}',
  /** End of the utterance's audio: the server flushes the last words, then sends `done`. */
  commitFinal: '{"type":"input_audio_buffer.commit","final":true}',
  append: (pcm16le: Buffer) => `{"type":"input_audio_buffer.append","audio":"${pcm16le.toString('base64')}"}`,
} as const;
