import {
  type ConnectedMessage,
  checkers,
  type DtmfMessage,
  type MarkMessage,
  type StartMessage,
  type StopMessage,
} from './messages.js';

/**
 * Pure translation between Telnyx media streaming frames and typed values: no I/O, no state.
 * Parsing never throws; a bad frame comes back as `{ event: 'malformed', reason, detail }`.
 */

/** Largest payload accepted in one media message: 1 s of L16 at 48 kHz (Telnyx sends 20 ms). */
export const MAX_MEDIA_PAYLOAD_BYTES = 96_000;

export type MalformedReason =
  | 'binary_frame'
  | 'malformed_json'
  | 'unknown_event'
  | 'invalid_message'
  | 'bad_base64'
  | 'bad_payload_size'
  | 'bad_sequence'
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
  readonly sequence: number;
  readonly streamId: string;
  readonly track: 'inbound' | 'outbound';
  readonly payload: Uint8Array;
}

export interface StreamError {
  readonly event: 'error';
  readonly sequence: number | undefined;
  /** What the frame said, flattened to short strings (its fields are not documented). */
  readonly detail: Readonly<Record<string, string>>;
}

/** A parsed frame; `sequence` is its sequence_number when it carried one. */
export type TelnyxInbound =
  | ConnectedMessage
  | StartMessage
  | MediaFrame
  | (DtmfMessage & { readonly sequence: number | undefined })
  | (MarkMessage & { readonly sequence: number | undefined })
  | (StopMessage & { readonly sequence: number | undefined })
  | StreamError
  | Malformed;

function malformed(reason: MalformedReason, detail: string): Malformed {
  return { event: 'malformed', reason, detail };
}

export function parseTelnyxMessage(data: Buffer | string): TelnyxInbound {
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
        sequence: Number(message.sequence_number),
        streamId: message.stream_id,
        track: media.track === 'inbound' || media.track === 'inbound_track' ? 'inbound' : 'outbound',
        payload,
      };
    }
    case 'connected':
    case 'start':
      return checkers[event].Check(message) ? message : invalid(event, message);
    case 'dtmf':
    case 'mark':
    case 'stop':
      if (!checkers[event].Check(message)) return invalid(event, message);
      return { ...message, sequence: sequenceOf(message) } as TelnyxInbound;
    case 'error':
      if (!checkers.error.Check(message)) return invalid('error', message);
      return { event: 'error', sequence: sequenceOf(message), detail: flatten(message) };
    default:
      return malformed('unknown_event', `event ${JSON.stringify(event)}`.slice(0, 100));
  }
}

function sequenceOf(message: { sequence_number?: string | number }): number | undefined {
  return message.sequence_number === undefined ? undefined : Number(message.sequence_number);
}

/** An error frame's scalar fields (one level of nesting), each cut to 200 characters; at most 8. */
function flatten(message: object): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (value: unknown, prefix: string, depth: number) => {
    if (Object.keys(out).length >= 8) return;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out[prefix.slice(0, 64)] = String(value).slice(0, 200);
    } else if (value && typeof value === 'object' && !Array.isArray(value) && depth < 2) {
      for (const [key, child] of Object.entries(value).slice(0, 8)) {
        visit(child, prefix ? `${prefix}.${key}` : key, depth + 1);
      }
    }
  };
  const {
    event: _event,
    stream_id: _stream,
    sequence_number: _seq,
    ...rest
  } = message as Record<string, unknown>;
  visit(rest, '', 0);
  return out;
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

/** L16 as Telnyx sends it (network byte order, RFC 2586) to host samples; undefined if odd. */
export function l16BigEndianToPcm(bytes: Uint8Array): Int16Array | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, false);
  return out;
}

// --- frames voxline sends (bidirectional RTP mode only) ---

export function encodeMedia(payload: Uint8Array): string {
  const base64 = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
  return JSON.stringify({ event: 'media', media: { payload: base64 } });
}

export function encodeMark(name: string): string {
  return JSON.stringify({ event: 'mark', mark: { name } });
}

export function encodeClear(): string {
  return JSON.stringify({ event: 'clear' });
}
