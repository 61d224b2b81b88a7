import { decodeBase64 } from '../twilio/codec.js';
import {
  type ClearedAudioMessage,
  checkers,
  type DtmfMessage,
  type PlayedStreamMessage,
  type StartMessage,
  type StopMessage,
} from './messages.js';

/**
 * Pure translation between Plivo Audio Streaming frames and typed values: no I/O, no state.
 * Parsing never throws; a bad frame comes back as `{ event: 'malformed', reason, detail }`.
 */

/** Largest μ-law payload accepted in one media message: 1 s (Plivo sends 20 ms = 160 bytes). */
export const MAX_MEDIA_PAYLOAD_BYTES = 8000;

export type MalformedReason =
  | 'binary_frame'
  | 'malformed_json'
  | 'unknown_event'
  | 'invalid_message'
  | 'bad_base64'
  | 'bad_payload_size'
  | 'media_before_start'
  | 'duplicate_start'
  | 'unknown_track'
  | 'wrong_stream'
  | 'bad_timestamp'
  | 'message_too_big'
  | 'invalid_frame';

export interface Malformed {
  readonly event: 'malformed';
  readonly reason: MalformedReason;
  readonly detail: string;
}

export interface MediaFrame {
  readonly event: 'media';
  readonly sequenceNumber: number | undefined;
  readonly streamId: string | undefined;
  readonly track: 'inbound' | 'outbound';
  /** Unix time in ms, as Plivo stamps it. */
  readonly timestampMs: number;
  readonly payload: Uint8Array;
}

export type PlivoInbound =
  | StartMessage
  | MediaFrame
  | DtmfMessage
  | PlayedStreamMessage
  | ClearedAudioMessage
  | StopMessage
  | Malformed;

function malformed(reason: MalformedReason, detail: string): Malformed {
  return { event: 'malformed', reason, detail };
}

const count = (value: number | string | undefined) => (value === undefined ? undefined : Number(value));

export function parsePlivoMessage(data: Buffer | string): PlivoInbound {
  let message: unknown;
  try {
    message = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    return malformed('malformed_json', (err as Error).message);
  }
  const event = (message as { event?: unknown } | null)?.event;
  switch (event) {
    case 'media': {
      if (!checkers.media.Check(message)) return invalid('media', message);
      const { media } = message;
      const payload = decodeBase64(media.payload);
      if (payload === undefined)
        return malformed('bad_base64', `payload of ${media.payload.length} characters`);
      if (payload.length > MAX_MEDIA_PAYLOAD_BYTES) {
        return malformed('bad_payload_size', `${payload.length} bytes (at most ${MAX_MEDIA_PAYLOAD_BYTES})`);
      }
      return {
        event: 'media',
        sequenceNumber: count(message.sequenceNumber),
        streamId: message.streamId,
        track: media.track,
        timestampMs: Number(media.timestamp),
        payload,
      };
    }
    case 'start':
    case 'dtmf':
    case 'playedStream':
    case 'clearedAudio':
    case 'stop':
      return checkers[event].Check(message) ? message : invalid(event, message);
    default:
      return malformed('unknown_event', `event ${JSON.stringify(event)}`.slice(0, 100));
  }
}

function invalid(event: keyof typeof checkers, message: unknown): Malformed {
  const first = checkers[event].Errors(message).First();
  const where = first ? `${first.path || '/'}: ${first.message}` : 'does not match the schema';
  return malformed('invalid_message', `${event} ${where}`);
}

// --- messages voxline sends (bidirectional streams only) ---

export function encodePlayAudio(streamId: string, mulaw: Uint8Array): string {
  const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString('base64');
  return JSON.stringify({
    event: 'playAudio',
    media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload },
    streamId,
  });
}

export function encodeCheckpoint(streamId: string, name: string): string {
  return JSON.stringify({ event: 'checkpoint', streamId, name });
}

export function encodeClearAudio(streamId: string): string {
  return JSON.stringify({ event: 'clearAudio', streamId });
}
