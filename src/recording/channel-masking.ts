import { MULAW_SILENCE, pcmToMulaw } from '../audio/g711.js';
import type { AudioFill, ChannelGate } from '../compliance/audio-redaction.js';
import type { RecordingFormat } from './wav-writer.js';

/** One channel's buffered audio ahead of the file: copies of its leg's frames, and silence pads. */
export interface BufferedAudio {
  readonly chunks: readonly (Int16Array | Uint8Array)[];
  /** Call-clock sample index of each chunk's first sample; NaN for a pad (no leg audio in it). */
  readonly clocks: readonly number[];
}

/** The tone a redacted span is replaced by when `fill` is `tone`: 1 kHz at −20 dBFS. */
const TONE_HZ = 1_000;
const TONE_AMPLITUDE = Math.round(32_767 * 10 ** (-20 / 20));

/** The sample written at call-clock sample `at` over a masked span (a tone keeps its phase across flushes). */
export function maskSampler(
  format: RecordingFormat,
  sampleRate: number,
  fill: AudioFill,
): (at: number) => number {
  const silence = format === 'pcm16' ? 0 : MULAW_SILENCE;
  if (fill === 'silence') return () => silence;
  const period = sampleRate / TONE_HZ; // 16 or 8 samples: whole numbers at both rates
  const pcm = Int16Array.from({ length: period }, (_, i) =>
    Math.round(TONE_AMPLITUDE * Math.sin((2 * Math.PI * i) / period)),
  );
  const table = format === 'pcm16' ? pcm : pcmToMulaw(pcm);
  return (at) => table[((Math.floor(at) % period) + period) % period];
}

/**
 * How many samples from the front of `audio` are settled: no mask can still come for them (the
 * leg's transcript for them is final). Pads are always settled; a chunk is settled up to the
 * gate's time. Counted up to `limit`.
 */
export function settledSamples(
  audio: BufferedAudio,
  gate: ChannelGate,
  sampleRate: number,
  limit: number,
): number {
  const settledAt = Math.floor((gate.settledBeforeMs() * sampleRate) / 1000);
  let n = 0;
  for (let i = 0; i < audio.chunks.length && n < limit; i++) {
    const length = audio.chunks[i].length;
    const clock = audio.clocks[i];
    if (Number.isNaN(clock) || clock + length <= settledAt) {
      n += length;
      continue;
    }
    return Math.min(limit, n + Math.max(0, settledAt - clock));
  }
  return Math.min(n, limit);
}

/**
 * Which of `n` samples about to be written are hidden: 1 where a mask covers them, 2 where they are
 * written unsettled (held past the gate's maximum, or the recording closed first): fail closed.
 * `pieces` say where each chunk's samples went (`at`, from 0) and their call-clock start.
 */
export function hiddenSamples(
  n: number,
  settled: number,
  pieces: readonly { readonly at: number; readonly clock: number; readonly length: number }[],
  gate: ChannelGate,
  sampleRate: number,
): Uint8Array {
  const hidden = new Uint8Array(n);
  const toMs = (samples: number) => (samples * 1000) / sampleRate;
  const toSamples = (ms: number) => (ms * sampleRate) / 1000;
  for (const piece of pieces) {
    if (Number.isNaN(piece.clock)) continue; // a pad is silence already
    for (const mask of gate.masksBetween(toMs(piece.clock), toMs(piece.clock + piece.length))) {
      const from = Math.max(0, Math.floor(toSamples(mask.startMs)) - piece.clock);
      const to = Math.min(piece.length, Math.ceil(toSamples(mask.endMs)) - piece.clock);
      hidden.fill(1, piece.at + from, piece.at + Math.max(from, to));
    }
  }
  for (let i = settled; i < n; i++) hidden[i] = 2;
  return hidden;
}
