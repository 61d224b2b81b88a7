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

/**
 * Mistral documents no limits on realtime sessions (docs/engines.md, "Mistral session limits").
 * Its REST API is reported to refuse for rate and concurrency with HTTP 429 and a body like
 * `{"object":"error","message":"Rate limit exceeded","type":"rate_limited","code":"1300"}`; the
 * realtime endpoint is assumed to refuse its upgrade the same way, or to send that code in an
 * `error` event. A session ended for its age is recognised by its message. Anything else is an
 * ordinary server error (the utterance is retried once).
 */
export function mistralLimitError(
  code: number | string | undefined,
  message: string,
): 'refused' | 'session_ended' | undefined {
  if (String(code) === '1300' || String(code) === '429') return 'refused';
  if (/rate.?limit|too many|concurren|capacity|quota/i.test(message)) return 'refused';
  if (/session/i.test(message) && /duration|expired|too long|maximum|lifetime|age limit/i.test(message)) {
    return 'session_ended';
  }
  return undefined;
}

/** The reason in an HTTP error body from Mistral (`message`, `code`), for a log line or an event. */
export function mistralErrorBody(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; code?: unknown };
    const message = typeof parsed.message === 'string' ? parsed.message : undefined;
    if (!message) return undefined;
    return parsed.code === undefined || parsed.code === null ? message : `${message}, code ${parsed.code}`;
  } catch {
    return undefined;
  }
}

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
