import { Downsampler16to8 } from '../../audio/downsampler.js';
import { decodeBase64 } from '../twilio/codec.js';

/**
 * Pure translation between Exotel's Voicebot / Stream applet frames and typed values: no I/O, no
 * state beyond audio out's resampler and held tail. Parsing never throws.
 *
 * Exotel's frames are JSON text with snake_case fields: connected, start (stream_sid, call_sid,
 * account_sid, from, to, custom_parameters, media_format), media (chunk, timestamp, payload:
 * base64 16-bit little-endian mono PCM, 8 kHz by default), dtmf, mark, stop. Numbers come as
 * strings in Exotel's examples; both are taken. Sources and open questions: docs/carriers/exotel.md.
 */

/** Largest decoded payload taken in one media frame: 1 s at 24 kHz (Exotel sends about 100 ms). */
export const MAX_EXOTEL_PAYLOAD_BYTES = 48_000;
/** Exotel plays chunks that are multiples of 320 bytes (20 ms at 8 kHz). */
export const EXOTEL_CHUNK_BYTES = 320;
/**
 * The smallest chunk sent unless a mark needs the tail: 100 ms at 8 kHz. Exotel's page says
 * "3.2k [100ms data]", which is 100 ms only at 16 kHz; at 8 kHz 100 ms is 1,600 bytes.
 */
export const EXOTEL_MIN_CHUNK_BYTES = 1600;

export type ExotelRate = 8000 | 16000 | 24000;

export interface ExotelStart {
  readonly event: 'start';
  readonly sequence: number | undefined;
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string | undefined;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly customParameters: Record<string, string>;
  readonly encoding: string;
  readonly sampleRate: number;
  readonly bitRate: number | undefined;
}

export type ExotelInbound =
  | { readonly event: 'connected' }
  | ExotelStart
  | {
      readonly event: 'media';
      readonly sequence: number | undefined;
      readonly streamSid: string | undefined;
      readonly chunk: number | undefined;
      readonly timestampMs: number | undefined;
      readonly payload: Uint8Array;
    }
  | { readonly event: 'dtmf'; readonly sequence: number | undefined; readonly digit: string }
  | { readonly event: 'mark'; readonly sequence: number | undefined; readonly name: string }
  | { readonly event: 'stop'; readonly sequence: number | undefined; readonly reason: string | undefined }
  | { readonly event: 'malformed'; readonly reason: string; readonly detail: string };

const bad = (reason: string, detail: string): ExotelInbound => ({ event: 'malformed', reason, detail });

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, max = 256): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
/** A non-negative integer sent as a number or a string of digits. */
function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  return undefined;
}

export function parseExotelMessage(text: string): ExotelInbound {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    return bad('malformed_json', (err as Error).message.slice(0, 120));
  }
  if (!isObject(m)) return bad('invalid_message', 'not a JSON object');
  const sequence = int(m.sequence_number);
  switch (m.event) {
    case 'connected':
      return { event: 'connected' };
    case 'start': {
      const s = m.start;
      if (!isObject(s)) return bad('invalid_message', 'start without start{}');
      const streamSid = str(s.stream_sid) ?? str(m.stream_sid);
      const callSid = str(s.call_sid);
      if (!streamSid || !callSid) return bad('invalid_message', 'start without stream_sid or call_sid');
      const format = isObject(s.media_format) ? s.media_format : {};
      const params: Record<string, string> = {};
      if (isObject(s.custom_parameters)) {
        for (const [k, v] of Object.entries(s.custom_parameters).slice(0, 32))
          if (k.length <= 64 && typeof v === 'string') params[k] = v.slice(0, 256);
      }
      return {
        event: 'start',
        sequence,
        streamSid,
        callSid,
        accountSid: str(s.account_sid),
        from: str(s.from, 64),
        to: str(s.to, 64),
        customParameters: params,
        encoding: typeof format.encoding === 'string' ? format.encoding.slice(0, 64) : 'raw/slin',
        sampleRate: int(format.sample_rate) ?? 8000,
        bitRate: int(format.bit_rate),
      };
    }
    case 'media': {
      const media = m.media;
      if (!isObject(media) || typeof media.payload !== 'string')
        return bad('invalid_message', 'media without media.payload');
      if (media.payload.length > (MAX_EXOTEL_PAYLOAD_BYTES * 4) / 3 + 4)
        return bad('bad_payload_size', `${media.payload.length} base64 characters`);
      const payload = decodeBase64(media.payload);
      if (!payload) return bad('bad_base64', 'media.payload is not base64');
      return {
        event: 'media',
        sequence,
        streamSid: str(m.stream_sid),
        chunk: int(media.chunk),
        timestampMs: int(media.timestamp),
        payload,
      };
    }
    case 'dtmf': {
      const digit = isObject(m.dtmf) ? m.dtmf.digit : undefined;
      if (typeof digit !== 'string' || !/^[0-9*#A-Da-d]$/.test(digit))
        return bad('invalid_message', 'dtmf without a digit');
      return { event: 'dtmf', sequence, digit: digit.toUpperCase() };
    }
    case 'mark': {
      const name = isObject(m.mark) ? str(m.mark.name) : undefined;
      if (!name) return bad('invalid_message', 'mark without mark.name');
      return { event: 'mark', sequence, name };
    }
    case 'stop':
      return { event: 'stop', sequence, reason: isObject(m.stop) ? str(m.stop.reason, 64) : undefined };
    default:
      return bad('unknown_event', typeof m.event === 'string' ? m.event.slice(0, 32) : typeof m.event);
  }
}

/** `media_format` as a leg rate, or undefined when voxline does not take it (16-bit PCM only). */
export function exotelRate(
  start: Pick<ExotelStart, 'encoding' | 'sampleRate' | 'bitRate'>,
): ExotelRate | undefined {
  const encoding = start.encoding.toLowerCase();
  const pcm = encoding === 'raw/slin' || encoding === 'audio/x-raw' || /^audio\/(x-)?l16$/.test(encoding);
  if (!pcm || (start.bitRate !== undefined && start.bitRate !== 16)) return undefined;
  const rate = start.sampleRate;
  return rate === 8000 || rate === 16000 || rate === 24000 ? rate : undefined;
}

export function encodeMedia(streamSid: string, pcmLe: Uint8Array): string {
  const payload = Buffer.from(pcmLe.buffer, pcmLe.byteOffset, pcmLe.byteLength).toString('base64');
  return JSON.stringify({ event: 'media', stream_sid: streamSid, media: { payload } });
}
export function encodeMark(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', stream_sid: streamSid, mark: { name } });
}
export function encodeClear(streamSid: string): string {
  return JSON.stringify({ event: 'clear', stream_sid: streamSid });
}

/**
 * 16 kHz PCM (what the agent speaks) to 8 kHz 16-bit little-endian PCM in Exotel's chunks: at
 * least 100 ms and whole multiples of 320 bytes (20 ms); Exotel's docs say smaller chunks risk
 * distortion and a size off the 320-byte grid leaves gaps. `flush` (before a mark)
 * pads the held tail with silence to the next 320 bytes, so the mark follows all of the speech.
 */
export class ExotelChunker {
  readonly #down = new Downsampler16to8();
  #held = Buffer.alloc(0);

  push(pcm: Int16Array): Uint8Array {
    const pcm8 = this.#down.pushPcm(pcm);
    const bytes = Buffer.allocUnsafe(pcm8.length * 2);
    for (let i = 0; i < pcm8.length; i++) bytes.writeInt16LE(pcm8[i], 2 * i);
    const all = this.#held.length > 0 ? Buffer.concat([this.#held, bytes]) : bytes;
    if (all.length < EXOTEL_MIN_CHUNK_BYTES) {
      this.#held = Buffer.from(all);
      return new Uint8Array(0);
    }
    const whole = all.length - (all.length % EXOTEL_CHUNK_BYTES);
    this.#held = Buffer.from(all.subarray(whole));
    return all.subarray(0, whole);
  }

  flush(): Uint8Array {
    if (this.#held.length === 0) return new Uint8Array(0);
    const padded = Buffer.alloc(Math.ceil(this.#held.length / EXOTEL_CHUNK_BYTES) * EXOTEL_CHUNK_BYTES);
    this.#held.copy(padded);
    this.#held = Buffer.alloc(0);
    return padded;
  }

  drop(): void {
    this.#held = Buffer.alloc(0);
  }
}

/** L16 little-endian bytes to samples; undefined when the length is odd. */
export function decodePcmLe(bytes: Uint8Array): Int16Array | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.readInt16LE(2 * i);
  return out;
}
