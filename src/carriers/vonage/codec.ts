import {
  type ClearedMessage,
  type ConnectedMessage,
  checkers,
  type DtmfMessage,
  type NotifyMessage,
} from './messages.js';
import type { VonageAudioRate } from './vonage-config.js';

/**
 * Pure translation between Vonage WebSocket frames and typed values: no I/O, no state.
 * Parsing never throws; a bad frame comes back as `{ event: 'malformed', reason, detail }`.
 */

/** Largest audio frame accepted: 1 s at 16 kHz (Vonage sends 20 ms: 640 or 320 bytes). */
export const MAX_AUDIO_FRAME_BYTES = 32_000;
/** NCCO headers kept as the call's custom parameters: this many, this long. */
const MAX_PARAMETERS = 32;
const MAX_PARAMETER_LENGTH = 256;

export type MalformedReason =
  | 'malformed_json'
  | 'unknown_event'
  | 'invalid_message'
  | 'odd_audio_length'
  | 'bad_payload_size'
  | 'media_before_start'
  | 'duplicate_start'
  | 'message_too_big'
  | 'invalid_frame';

export interface Malformed {
  readonly event: 'malformed';
  readonly reason: MalformedReason;
  readonly detail: string;
}

/** A `websocket:*` event voxline has no use for (Vonage's namespace: ignored, not malformed). */
export interface OtherEvent {
  readonly event: 'other';
  readonly name: string;
}

export type VonageText =
  | ConnectedMessage
  | DtmfMessage
  | NotifyMessage
  | ClearedMessage
  | OtherEvent
  | Malformed;

function malformed(reason: MalformedReason, detail: string): Malformed {
  return { event: 'malformed', reason, detail };
}

export function parseVonageText(data: Buffer | string): VonageText {
  let message: unknown;
  try {
    message = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    return malformed('malformed_json', (err as Error).message);
  }
  const event = (message as { event?: unknown } | null)?.event;
  switch (event) {
    case 'websocket:connected':
    case 'websocket:dtmf':
    case 'websocket:notify':
    case 'websocket:cleared': {
      const checker = checkers[event];
      if (checker.Check(message)) return message as VonageText;
      const first = checker.Errors(message).First();
      const where = first ? `${first.path || '/'}: ${first.message}` : 'does not match the schema';
      return malformed('invalid_message', `${event} ${where}`);
    }
    default:
      if (typeof event === 'string' && /^websocket:[a-z:_-]{1,40}$/.test(event))
        return { event: 'other', name: event };
      return malformed('unknown_event', `event ${JSON.stringify(event)}`.slice(0, 100));
  }
}

/** The rate a `content-type` names, when it is one voxline takes (`audio/l16;rate=16000`). */
export function rateOf(contentType: string): VonageAudioRate | undefined {
  const match = /^audio\/l16;\s*rate=(8000|16000)$/i.exec(contentType.trim());
  return match ? (Number(match[1]) as VonageAudioRate) : undefined;
}

/**
 * The NCCO headers that came back in `websocket:connected`, as string parameters: strings only,
 * bounded in number and length (the frame is the peer's; the call keeps what is taken).
 */
export function headersOf(message: ConnectedMessage): Record<string, string> {
  const out: Record<string, string> = {};
  let kept = 0;
  for (const [key, value] of Object.entries(message)) {
    if (key === 'event' || key === 'content-type' || typeof value !== 'string') continue;
    if (key.length > 64 || value.length > MAX_PARAMETER_LENGTH) continue;
    if (++kept > MAX_PARAMETERS) break;
    out[key] = value;
  }
  return out;
}

/** A binary frame: 16-bit little-endian samples; the whole samples of an odd-length frame are kept. */
export function decodeAudio(bytes: Buffer): { pcm: Int16Array; odd: boolean } | Malformed {
  if (bytes.length > MAX_AUDIO_FRAME_BYTES) {
    return malformed('bad_payload_size', `${bytes.length} bytes (at most ${MAX_AUDIO_FRAME_BYTES})`);
  }
  const pcm = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < pcm.length; i++) pcm[i] = bytes.readInt16LE(2 * i);
  return { pcm, odd: bytes.length % 2 !== 0 };
}

/** Samples to the bytes Vonage plays: 16-bit little-endian. */
export function encodeAudio(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], 2 * i);
  return out;
}

// --- messages voxline sends (bidirectional calls only) ---

export function encodeClear(): string {
  return JSON.stringify({ action: 'clear' });
}

export function encodeNotify(payload: Readonly<Record<string, string>>): string {
  return JSON.stringify({ action: 'notify', payload });
}
