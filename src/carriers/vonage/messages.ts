import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * Vonage Voice API messages as they arrive: the WebSocket's text frames, the answer and event
 * webhooks, and the claims of the JWT that signs those webhooks. Extra properties are allowed:
 * Vonage adds fields, and the `headers` of voxline's NCCO arrive as extra properties of the first
 * frame. Checkers are compiled once.
 *
 * Sources:
 * - WebSockets: https://developer.vonage.com/en/voice/voice-api/concepts/websockets (the first
 *   text frame `websocket:connected` with `content-type` and the NCCO's headers; binary frames of
 *   16-bit little-endian linear PCM, 20 ms each; `{"action":"clear"}` → `websocket:cleared`;
 *   `{"action":"notify","payload":{…}}` → `websocket:notify` once the audio queued before it has
 *   played; `websocket:dtmf` with `digit` and `duration`).
 * - Buffering: https://developer.vonage.com/en/tutorials/play-audio-into-a-websocket/create-the-websocket/node
 *   ("Vonage will only buffer 3072 messages", about 60 s).
 * - NCCO `connect` with a `websocket` endpoint: https://developer.vonage.com/en/voice/voice-api/ncco-reference
 * - Answer webhook (`uuid`, `conversation_uuid`, `from`, `to`) and event webhook:
 *   https://developer.vonage.com/en/voice/voice-api/webhook-reference
 * - Signed webhooks (HS256 JWT in `Authorization: Bearer`, signed with the signature secret;
 *   claims `iat`, `jti`, `iss`, `payload_hash` = SHA-256 of the payload, `api_key`,
 *   `application_id`): https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks
 *   and https://api.support.vonage.com/hc/en-us/articles/19033783342876 (for GET, the hash is of
 *   the query parameters as a compact JSON object, in the order received).
 * - Cross-checked with /work/shared/reference/sip-carriers.md §4 and pipecat's
 *   `src/pipecat/serializers/vonage.py`.
 */

/** Vonage call and conversation UUIDs (dashed hex; some accounts show bare hex). */
export const VonageUuid = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' });

export const ConnectedMessage = Type.Object({
  event: Type.Literal('websocket:connected'),
  'content-type': Type.String({ maxLength: 64 }),
});

export const DtmfMessage = Type.Object({
  event: Type.Literal('websocket:dtmf'),
  digit: Type.String({ pattern: '^[0-9*#A-D]$' }),
  duration: Type.Optional(Type.Number({ minimum: 0 })),
});

export const NotifyMessage = Type.Object({
  event: Type.Literal('websocket:notify'),
  payload: Type.Record(Type.String(), Type.Unknown()),
});

export const ClearedMessage = Type.Object({ event: Type.Literal('websocket:cleared') });

/** The answer webhook, as query parameters (GET) or a JSON body (POST). */
export const AnswerParams = Type.Object({
  uuid: VonageUuid,
  conversation_uuid: Type.Optional(Type.String({ maxLength: 128 })),
  from: Type.Optional(Type.String({ maxLength: 128 })),
  to: Type.Optional(Type.String({ maxLength: 128 })),
});

/** An event webhook: call and leg status changes (`started`, `answered`, `completed`, …). */
export const EventBody = Type.Object({
  uuid: Type.Optional(Type.String({ maxLength: 128 })),
  conversation_uuid: Type.Optional(Type.String({ maxLength: 128 })),
  status: Type.Optional(Type.String({ maxLength: 64 })),
});

export const JwtHeader = Type.Object({ alg: Type.String(), typ: Type.Optional(Type.String()) });

export const JwtClaims = Type.Object({
  iat: Type.Number(),
  exp: Type.Optional(Type.Number()),
  nbf: Type.Optional(Type.Number()),
  jti: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  payload_hash: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
  api_key: Type.Optional(Type.String()),
  application_id: Type.Optional(Type.String()),
});

export type ConnectedMessage = Static<typeof ConnectedMessage>;
export type DtmfMessage = Static<typeof DtmfMessage>;
export type NotifyMessage = Static<typeof NotifyMessage>;
export type ClearedMessage = Static<typeof ClearedMessage>;
export type AnswerParams = Static<typeof AnswerParams>;
export type EventBody = Static<typeof EventBody>;
export type JwtClaims = Static<typeof JwtClaims>;

export const checkers = {
  'websocket:connected': TypeCompiler.Compile(ConnectedMessage),
  'websocket:dtmf': TypeCompiler.Compile(DtmfMessage),
  'websocket:notify': TypeCompiler.Compile(NotifyMessage),
  'websocket:cleared': TypeCompiler.Compile(ClearedMessage),
} as const;

export const answerParams = TypeCompiler.Compile(AnswerParams);
export const eventBody = TypeCompiler.Compile(EventBody);
export const jwtHeader = TypeCompiler.Compile(JwtHeader);
export const jwtClaims = TypeCompiler.Compile(JwtClaims);
