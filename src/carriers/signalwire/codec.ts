import { Downsampler16to8 } from '../../audio/downsampler.js';
import { StreamResampler } from '../../audio/stream-resampler.js';
import { checkTwilioMessage, type TwilioInbound } from '../twilio/codec.js';
import type { L16ByteOrder } from './signalwire-config.js';

/**
 * Pure translation between SignalWire's cXML <Stream> frames and typed values: no I/O, no state
 * beyond the resamplers of audio out. Parsing never throws.
 *
 * SignalWire's compatibility API speaks Twilio Media Streams (connected, start, media, mark, dtmf,
 * stop; back: media, mark, clear), so frames are checked with Twilio's schemas (twilio/messages.ts).
 * What differs, converted here: the media may be L16 at 16 or 24 kHz (`<Stream codec>`, announced
 * in `start.mediaFormat`), so payloads may be larger; and SignalWire's docs name the tracks
 * `inbound_track` / `outbound_track` where Twilio's frames say `inbound` / `outbound`, so both are
 * taken. Sources and open questions: docs/carriers/signalwire.md.
 */

/** Largest decoded payload taken in one media frame: 1 s of L16 at 24 kHz (SignalWire sends 20 ms). */
export const MAX_SIGNALWIRE_PAYLOAD_BYTES = 48_000;

const TRACK_NAMES: Readonly<Record<string, string>> = {
  inbound_track: 'inbound',
  outbound_track: 'outbound',
};

/** A SignalWire frame; malformed ones come back as Twilio's `{ event: 'malformed' }`. */
export function parseSignalWireMessage(text: string): TwilioInbound {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (err) {
    return { event: 'malformed', reason: 'malformed_json', detail: (err as Error).message };
  }
  return checkTwilioMessage(normaliseTracks(message), MAX_SIGNALWIRE_PAYLOAD_BYTES);
}

/** `inbound_track` → `inbound` in `start.tracks` and `media.track`; anything else is left as it came. */
function normaliseTracks(message: unknown): unknown {
  if (!message || typeof message !== 'object') return message;
  const m = message as { event?: unknown; start?: unknown; media?: unknown };
  if (m.event === 'start' && m.start && typeof m.start === 'object') {
    const start = m.start as { tracks?: unknown };
    if (Array.isArray(start.tracks)) {
      const tracks = start.tracks.map((t) => (typeof t === 'string' ? (TRACK_NAMES[t] ?? t) : t));
      return { ...m, start: { ...start, tracks } };
    }
  } else if (m.event === 'media' && m.media && typeof m.media === 'object') {
    const media = m.media as { track?: unknown };
    if (typeof media.track === 'string' && TRACK_NAMES[media.track])
      return { ...m, media: { ...media, track: TRACK_NAMES[media.track] } };
  }
  return message;
}

export type StreamFormat =
  | { readonly codec: 'pcmu'; readonly sampleRate: 8000 }
  | { readonly codec: 'l16'; readonly sampleRate: 8000 | 16000 | 24000 };

/** `start.mediaFormat` as a leg format, or undefined when voxline does not take it. */
export function streamFormat(format: {
  readonly encoding: string;
  readonly sampleRate: number;
  readonly channels: number;
}): StreamFormat | undefined {
  if (format.channels !== 1) return undefined;
  const encoding = format.encoding.toLowerCase();
  if ((encoding === 'audio/x-mulaw' || encoding === 'audio/pcmu') && format.sampleRate === 8000)
    return { codec: 'pcmu', sampleRate: 8000 };
  if (
    /^audio\/(x-)?l16$/.test(encoding) &&
    (format.sampleRate === 8000 || format.sampleRate === 16000 || format.sampleRate === 24000)
  )
    return { codec: 'l16', sampleRate: format.sampleRate };
  return undefined;
}

/** L16 payload bytes to samples; undefined when the length is odd. */
export function decodeL16(bytes: Uint8Array, order: L16ByteOrder): Int16Array | undefined {
  if (bytes.length % 2 !== 0) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++)
    out[i] = order === 'big' ? view.readInt16BE(2 * i) : view.readInt16LE(2 * i);
  return out;
}

export function encodeL16(pcm: Int16Array, order: L16ByteOrder): Uint8Array {
  const out = Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) {
    if (order === 'big') out.writeInt16BE(pcm[i], 2 * i);
    else out.writeInt16LE(pcm[i], 2 * i);
  }
  return out;
}

/**
 * 16 kHz PCM (what the agent speaks) to the stream's own payload, as SignalWire plays it back on a
 * bidirectional stream: μ-law 8 kHz, or L16 at the stream's rate and byte order.
 */
export function outboundEncoder(format: StreamFormat, order: L16ByteOrder): (pcm: Int16Array) => Uint8Array {
  if (format.codec === 'pcmu') {
    const down = new Downsampler16to8();
    return (pcm) => down.pushPcmToMulaw(pcm);
  }
  if (format.sampleRate === 16000) return (pcm) => encodeL16(pcm, order);
  if (format.sampleRate === 8000) {
    const down = new Downsampler16to8();
    return (pcm) => encodeL16(down.pushPcm(pcm), order);
  }
  const up = new StreamResampler(16000, format.sampleRate);
  return (pcm) => encodeL16(up.push(pcm), order);
}
