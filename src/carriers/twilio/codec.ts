import {
  type ConnectedMessage,
  checkers,
  type DtmfMessage,
  type MarkMessage,
  type StartMessage,
  type StopMessage,
} from './messages.js';

/**
 * Pure translation between Twilio Media Streams frames and typed values: no I/O, no state.
 * Parsing never throws; a bad frame comes back as `{ event: 'malformed', reason, detail }`.
 */

/** Largest μ-law payload accepted in one media message: 1 s (Twilio sends 20 ms = 160 bytes). */
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
  | 'message_too_big'
  | 'invalid_frame';

export interface Malformed {
  readonly event: 'malformed';
  readonly reason: MalformedReason;
  readonly detail: string;
}

export interface MediaFrame {
  readonly event: 'media';
  readonly sequenceNumber: number;
  readonly streamSid: string;
  readonly track: 'inbound' | 'outbound';
  readonly chunk: number;
  readonly timestampMs: number;
  readonly payload: Uint8Array;
}

export type TwilioInbound =
  | ConnectedMessage
  | StartMessage
  | MediaFrame
  | MarkMessage
  | DtmfMessage
  | StopMessage
  | Malformed;

function malformed(reason: MalformedReason, detail: string): Malformed {
  return { event: 'malformed', reason, detail };
}

export function parseTwilioMessage(data: Buffer | string): TwilioInbound {
  let message: unknown;
  try {
    message = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    return malformed('malformed_json', (err as Error).message);
  }
  return checkTwilioMessage(message);
}

/**
 * A parsed frame checked against the Twilio schemas (shared by Twilio-shaped edges: SignalWire).
 * `maxPayloadBytes`: the largest decoded media payload taken (L16 streams send more than μ-law).
 */
export function checkTwilioMessage(
  message: unknown,
  maxPayloadBytes = MAX_MEDIA_PAYLOAD_BYTES,
): TwilioInbound {
  const event = (message as { event?: unknown } | null)?.event;
  switch (event) {
    case 'media': {
      if (!checkers.media.Check(message)) return invalid('media', message);
      const { media, sequenceNumber, streamSid } = message;
      const payload = decodeBase64(media.payload);
      if (payload === undefined)
        return malformed('bad_base64', `payload of ${media.payload.length} characters`);
      if (payload.length > maxPayloadBytes) {
        return malformed('bad_payload_size', `${payload.length} bytes (at most ${maxPayloadBytes})`);
      }
      return {
        event: 'media',
        sequenceNumber: Number(sequenceNumber),
        streamSid,
        track: media.track,
        chunk: Number(media.chunk),
        timestampMs: Number(media.timestamp),
        payload,
      };
    }
    case 'connected':
    case 'start':
    case 'mark':
    case 'dtmf':
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

/**
 * Strict base64: Node's decoder silently stops at the first bad character or skips whitespace,
 * so the decoded length is checked against what a well-formed string of this length gives.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return bytes.length === (text.length / 4) * 3 - padding ? bytes : undefined;
}

// --- messages voxline sends (bidirectional streams only) ---

export function encodeMedia(streamSid: string, mulaw: Uint8Array): string {
  const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString('base64');
  return JSON.stringify({ event: 'media', streamSid, media: { payload } });
}

export function encodeMark(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', streamSid, mark: { name } });
}

export function encodeClear(streamSid: string): string {
  return JSON.stringify({ event: 'clear', streamSid });
}
