import type { ForkMix, ForkRate } from './freeswitch-config.js';

/**
 * Pure translation between the FreeSWITCH fork modules' WebSocket frames and typed values: no
 * I/O, no state. Parsing never throws.
 *
 * Sources (wire formats; /work/shared/reference/sip-carriers.md §3.4):
 * - mod_audio_stream (amigniter/mod_audio_stream README): `uuid_audio_stream <uuid> start <url>
 *   <mono|mixed|stereo> <8k|16k> [metadata]`; the optional metadata is sent first as one text
 *   frame, then binary L16 (20 ms by default, `STREAM_BUFFER_SIZE` N×20 ms, at most 500 ms);
 *   back: `{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":…,"audioData":"b64"}}`
 *   is written to a file and raised as `mod_audio_stream::play`; any other text as `::json`.
 * - mod_audio_fork (drachtio; fuller README in srthorat/freeswitch-speech-ai): sub-protocol
 *   `audio.drachtio.org`, `uuid_audio_fork <uuid> start <url> <mono|mixed|stereo> <8k|16k>
 *   <metadata>`: one text frame, then binary L16; `stereo` interleaves caller (ch0) and callee
 *   (ch1); `send_text` sends further text (its README: "e.g. to notify of DTMF events"); back:
 *   `{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":…,"audioContent":"b64"}}`
 *   (written to a file, raised as `mod_audio_fork::play_audio`) and `{"type":"killAudio"}`.
 * Neither announces the rate or the mix on the wire: the URL (or the route's config) says them.
 */

/** Largest audio frame accepted: 1 s of 16 kHz stereo (the modules send 20–500 ms). */
export const MAX_AUDIO_FRAME_BYTES = 64_000;
const MAX_PARAMETERS = 32;
const MAX_PARAMETER_LENGTH = 256;
/** A call id voxline can name files and URLs by (FreeSWITCH's `${uuid}` is one). */
const CALL_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DIGIT = /^[0-9*#A-D]$/;

export type ForkModule = 'mod_audio_stream' | 'mod_audio_fork';

/** What the first text frame (the operator's metadata) told. */
export interface ForkMetadata {
  readonly callSid: string | undefined;
  readonly parameters: Record<string, string>;
  /** Fields that were there with the wrong type (ignored). */
  readonly ignored: readonly string[];
}

/** Metadata as the operator typed it: a JSON object of call fields, or any text (kept as `metadata`). */
export function parseMetadata(text: string): ForkMetadata {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    const trimmed = text.trim();
    return {
      callSid: undefined,
      parameters: trimmed ? { metadata: trimmed.slice(0, MAX_PARAMETER_LENGTH) } : {},
      ignored: [],
    };
  }
  const fields = value as Record<string, unknown>;
  const parameters: Record<string, string> = {};
  const ignored: string[] = [];
  let callSid: string | undefined;
  if (fields.callSid !== undefined) {
    if (typeof fields.callSid === 'string' && CALL_ID.test(fields.callSid)) callSid = fields.callSid;
    else ignored.push('callSid');
  }
  for (const key of ['caller', 'from', 'to'] as const) {
    const field = fields[key];
    if (field === undefined) continue;
    if (typeof field === 'string' && field.length <= MAX_PARAMETER_LENGTH) parameters[key] = field;
    else ignored.push(key);
  }
  const custom = fields.custom;
  if (custom !== undefined) {
    if (custom && typeof custom === 'object' && !Array.isArray(custom)) {
      let kept = 0;
      for (const [key, field] of Object.entries(custom)) {
        if (typeof field !== 'string' || key.length > 64 || field.length > MAX_PARAMETER_LENGTH) continue;
        if (key in parameters || ++kept > MAX_PARAMETERS) continue;
        parameters[key] = field;
      }
    } else {
      ignored.push('custom');
    }
  }
  return { callSid, parameters, ignored };
}

export type ForkText =
  | { readonly kind: 'dtmf'; readonly digit: string }
  | { readonly kind: 'bad_dtmf'; readonly detail: string }
  | { readonly kind: 'other' };

/**
 * A text frame after the first. Neither module carries key presses itself; an operator who wants
 * them sends `{"event":"dtmf","dtmf":"5"}` with `send_text` (jambonz's shape for the same fork).
 * Anything else is the operator's own text (stop metadata, notes): not malformed.
 */
export function parseLaterText(text: string): ForkText {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'other' };
  }
  const message = value as { event?: unknown; dtmf?: unknown } | null;
  if (!message || typeof message !== 'object' || message.event !== 'dtmf') return { kind: 'other' };
  if (typeof message.dtmf === 'string' && DIGIT.test(message.dtmf))
    return { kind: 'dtmf', digit: message.dtmf };
  return { kind: 'bad_dtmf', detail: `dtmf ${JSON.stringify(message.dtmf)}`.slice(0, 80) };
}

export interface DecodedFrame {
  /** One array per channel (two for stereo), 16-bit samples. */
  readonly channels: Int16Array[];
  /** Bytes past the last whole sample (frame) that were dropped. */
  readonly leftover: number;
}

/** A binary frame: little-endian 16-bit samples, interleaved when stereo. */
export function decodeAudio(bytes: Buffer, mix: ForkMix): DecodedFrame | { readonly tooBig: number } {
  if (bytes.length > MAX_AUDIO_FRAME_BYTES) return { tooBig: bytes.length };
  const count = mix === 'stereo' ? 2 : 1;
  const frameBytes = 2 * count;
  const frames = Math.floor(bytes.length / frameBytes);
  const channels = Array.from({ length: count }, () => new Int16Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < count; c++) channels[c][i] = bytes.readInt16LE(frameBytes * i + 2 * c);
  }
  return { channels, leftover: bytes.length - frames * frameBytes };
}

/** Samples to what the modules take back: 16-bit little-endian. */
export function encodeL16(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], 2 * i);
  return out;
}

/** Audio for the module to play, in its own message shape. */
export function encodePlay(module: ForkModule, pcm: Int16Array, rate: ForkRate): string {
  const audio = encodeL16(pcm).toString('base64');
  if (module === 'mod_audio_fork') {
    return JSON.stringify({
      type: 'playAudio',
      data: { audioContentType: 'raw', sampleRate: rate, audioContent: audio },
    });
  }
  return JSON.stringify({
    type: 'streamAudio',
    data: { audioDataType: 'raw', sampleRate: rate, audioData: audio },
  });
}

/**
 * Barge-in. mod_audio_fork stops its playback on it; mod_audio_stream has no such command and
 * raises it as a `mod_audio_stream::json` event, for the application playing its files to act on.
 */
export function encodeKill(): string {
  return JSON.stringify({ type: 'killAudio' });
}

/** `rate`/`sampleRate` from the URL: 8000, 16000, 8k or 16k. */
export function rateParam(value: unknown): ForkRate | undefined | 'bad' {
  if (value === undefined) return undefined;
  if (value === '8000' || value === '8k') return 8000;
  if (value === '16000' || value === '16k') return 16000;
  return 'bad';
}

export function mixParam(value: unknown): ForkMix | undefined | 'bad' {
  if (value === undefined) return undefined;
  return value === 'mono' || value === 'stereo' || value === 'mixed' ? value : 'bad';
}
