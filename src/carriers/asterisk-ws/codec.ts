import type { LegCodec } from '../../audio/leg-decoder.js';

/**
 * Pure translation between Asterisk chan_websocket frames and typed values: no I/O, no state.
 * Parsing never throws.
 *
 * Sources: asterisk/documentation `docs/Configuration/Channel-Drivers/WebSocket.md` and
 * asterisk/asterisk `channels/chan_websocket.c` (/work/shared/reference/sip-carriers.md §3.3):
 * - BINARY frames are raw codec bytes in the channel's format (ulaw/alaw: 160 B per 20 ms).
 * - TEXT events, plain (`MEDIA_START connection_id:… channel:… channel_id:… format:ulaw
 *   optimal_frame_size:160 ptime:20`, `DTMF_END digit:5 channel_id:…`, `MEDIA_MARK_PROCESSED id`)
 *   or, with `f(json)` / chan_websocket.conf, JSON (`{"event":"MEDIA_START",…,"channel_variables":{}}`,
 *   `{"event":"MEDIA_MARK_PROCESSED","channel_id":…,"correlation_id":…}`).
 * - Commands (TEXT, case-sensitive) in the same format the events came in: `MARK_MEDIA id`,
 *   `FLUSH_MEDIA`, `HANGUP` (JSON: `{"command":"MARK_MEDIA","correlation_id":"id"}`).
 * - At most 65,500 bytes a message (more closes the socket and hangs up); audio in multiples of
 *   `optimal_frame_size` is re-framed and re-timed by Asterisk, a leftover is dropped.
 */

/** Asterisk's largest WebSocket message. */
export const MAX_MESSAGE_BYTES = 65_500;
const MAX_PARAMETERS = 32;
const MAX_PARAMETER_LENGTH = 256;
const MAX_TEXT_LENGTH = 16_384; // channel_variables can be long; anything longer is not Asterisk
const DIGIT = /^[0-9*#A-D]$/;
const ID = /^[A-Za-z0-9._:@/-]{1,128}$/;

export type ControlFormat = 'plain' | 'json';

/** A format voxline takes, and how it reaches a leg. */
export interface MediaFormat {
  readonly name: string;
  readonly codec: LegCodec;
  readonly sampleRate: 8000 | 16000;
  /** Bytes per sample (G.711: 1; slin: 2). */
  readonly sampleBytes: 1 | 2;
}

const FORMATS: Readonly<Record<string, MediaFormat>> = {
  ulaw: { name: 'ulaw', codec: 'pcmu', sampleRate: 8000, sampleBytes: 1 },
  alaw: { name: 'alaw', codec: 'pcma', sampleRate: 8000, sampleBytes: 1 },
  slin: { name: 'slin', codec: 'l16', sampleRate: 8000, sampleBytes: 2 },
  slin8: { name: 'slin', codec: 'l16', sampleRate: 8000, sampleBytes: 2 },
  slin16: { name: 'slin16', codec: 'l16', sampleRate: 16000, sampleBytes: 2 },
};

export const FORMAT_NAMES = 'ulaw, alaw, slin, slin16';

export function mediaFormat(name: string): MediaFormat | undefined {
  return Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
}

export interface MediaStart {
  readonly event: 'MEDIA_START';
  readonly format: ControlFormat;
  readonly connectionId: string;
  readonly channel: string | undefined;
  readonly channelId: string | undefined;
  readonly mediaFormat: string;
  readonly optimalFrameSize: number;
  readonly ptime: number | undefined;
  readonly variables: Record<string, string>;
}

export type AsteriskText =
  | MediaStart
  | { readonly event: 'DTMF_END'; readonly digit: string }
  | { readonly event: 'MEDIA_XOFF' | 'MEDIA_XON' | 'QUEUE_DRAINED' }
  | { readonly event: 'MEDIA_MARK_PROCESSED'; readonly id: string | undefined }
  | { readonly event: 'ERROR'; readonly text: string }
  | { readonly event: 'other'; readonly name: string }
  | { readonly event: 'malformed'; readonly reason: MalformedReason; readonly detail: string };

export type MalformedReason = 'malformed_json' | 'unknown_event' | 'invalid_message';

const OTHER = new Set(['STATUS', 'MEDIA_BUFFERING_COMPLETED']);

function malformed(reason: MalformedReason, detail: string): AsteriskText {
  return { event: 'malformed', reason, detail: detail.slice(0, 120) };
}

/** One TEXT frame, plain or JSON (a JSON event starts with `{`). */
export function parseAsteriskText(text: string): AsteriskText {
  if (text.length > MAX_TEXT_LENGTH) return malformed('invalid_message', `${text.length} characters`);
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      return malformed('malformed_json', (err as Error).message);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value))
      return malformed('invalid_message', 'not an object');
    const fields = value as Record<string, unknown>;
    return typeof fields.event === 'string'
      ? fromFields(fields.event, fields, [], 'json')
      : malformed('invalid_message', 'no event');
  }
  const [name = '', ...tokens] = trimmed.split(/\s+/);
  const fields: Record<string, unknown> = {};
  const positional: string[] = [];
  for (const token of tokens) {
    const colon = token.indexOf(':');
    if (colon > 0) fields[token.slice(0, colon)] = token.slice(colon + 1);
    else positional.push(token);
  }
  return fromFields(name, fields, positional, 'plain');
}

function fromFields(
  name: string,
  fields: Record<string, unknown>,
  positional: string[],
  format: ControlFormat,
): AsteriskText {
  const text = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : undefined);
  switch (name) {
    case 'MEDIA_START': {
      const connectionId = text('connection_id');
      const mediaFormatName = text('format');
      const size = Number(fields.optimal_frame_size);
      if (!connectionId || !ID.test(connectionId))
        return malformed('invalid_message', 'MEDIA_START connection_id');
      if (!mediaFormatName || mediaFormatName.length > 32)
        return malformed('invalid_message', 'MEDIA_START format');
      if (!Number.isInteger(size) || size <= 0 || size > MAX_MESSAGE_BYTES)
        return malformed('invalid_message', 'MEDIA_START optimal_frame_size');
      const channelId = text('channel_id');
      const ptime = fields.ptime === undefined ? undefined : Number(fields.ptime);
      return {
        event: 'MEDIA_START',
        format,
        connectionId,
        channel: text('channel')?.slice(0, MAX_PARAMETER_LENGTH),
        channelId: channelId && ID.test(channelId) ? channelId : undefined,
        mediaFormat: mediaFormatName,
        optimalFrameSize: size,
        ptime: Number.isFinite(ptime) ? ptime : undefined,
        variables: stringsOf(fields.channel_variables),
      };
    }
    case 'DTMF_END': {
      const digit = text('digit');
      if (!digit || !DIGIT.test(digit))
        return malformed('invalid_message', `DTMF_END digit ${JSON.stringify(fields.digit)}`);
      return { event: 'DTMF_END', digit };
    }
    case 'MEDIA_XOFF':
    case 'MEDIA_XON':
    case 'QUEUE_DRAINED':
      return { event: name };
    case 'MEDIA_MARK_PROCESSED':
      return { event: name, id: text('correlation_id') || positional[0] || undefined };
    case 'ERROR':
      return { event: 'ERROR', text: (text('error_text') ?? positional.join(' ')).slice(0, 200) };
    default:
      if (OTHER.has(name)) return { event: 'other', name };
      return malformed('unknown_event', `event ${JSON.stringify(name.slice(0, 40))}`);
  }
}

/** Channel variables (JSON MEDIA_START): strings only, bounded in number and length. */
function stringsOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  let kept = 0;
  for (const [key, field] of Object.entries(value)) {
    if (typeof field !== 'string' || key.length > 64 || field.length > MAX_PARAMETER_LENGTH) continue;
    if (++kept > MAX_PARAMETERS) break;
    out[key] = field;
  }
  return out;
}

/** A command in the format Asterisk uses on this socket. */
export function encodeCommand(format: ControlFormat, command: string, correlationId?: string): string {
  if (format === 'json')
    return JSON.stringify(
      correlationId === undefined ? { command } : { command, correlation_id: correlationId },
    );
  return correlationId === undefined ? command : `${command} ${correlationId}`;
}

/** slin bytes (host order: little-endian on every platform Asterisk ships for) to samples. */
export function decodeSlin(bytes: Buffer): Int16Array {
  const pcm = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < pcm.length; i++) pcm[i] = bytes.readInt16LE(2 * i);
  return pcm;
}
