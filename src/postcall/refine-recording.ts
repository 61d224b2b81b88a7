import type { Readable } from 'node:stream';
import { NO_CHANNEL } from '../recording/recording-channels.js';
import type { BatchTranscriber, BatchTranscription } from './batch-transcription.js';
import { type AudioChunk, ChannelChunker } from './channel-chunker.js';
import { monoWav } from './chunk-wav.js';
import type { RefinedTranscript, RefinedUtterance } from './refined-transcript.js';
import { wavChannels } from './wav-channels.js';

export interface RefineRequest {
  readonly callSid: string;
  /** The finished recording's WAV (channel n holds `speakers[n]`). */
  readonly wav: Readable;
  /** voxline's speaker per channel; a channel named `(none)` (nothing was recorded there) is skipped. */
  readonly speakers: readonly string[];
  readonly contextBias: readonly string[];
  readonly diarize: boolean;
  /** One request to the engine, with the caller's retries around it. */
  readonly transcribe: (
    chunk: { readonly wav: Uint8Array; readonly fileName: string; readonly durationMs: number },
    signal: AbortSignal,
  ) => Promise<BatchTranscription>;
  readonly transcriber: Pick<BatchTranscriber, 'name' | 'maxChunkMs'>;
  readonly wallNow: () => number;
  readonly signal: AbortSignal;
}

/**
 * The refined transcript of one recording: each channel split at quiet points into chunks the
 * engine takes, each audible chunk transcribed (silent ones are not sent), its segments and words
 * moved onto the call clock (the recording's sample 0 is the call clock's 0) under the channel's
 * speaker, diarized voices numbered per channel in order of first speech (where a channel has two
 * or more; one is just the channel's speaker). The agreement with
 * the live transcript is the caller's to add.
 */
export async function refineRecording(r: RefineRequest): Promise<Omit<RefinedTranscript, 'agreement'>> {
  const utterances: RefinedUtterance[] = [];
  const voices = new Map<string, string>();
  let sampleRate = 0;
  let chunkers: ChannelChunker[] = [];
  let chunks = 0;
  let model = '';
  let language: string | null = null;
  const send = async (channel: number, chunk: AudioChunk) => {
    const speaker = r.speakers[channel] ?? NO_CHANNEL;
    if (speaker === NO_CHANNEL || !chunk.audible) return;
    chunks++;
    const offsetMs = (chunk.startSample / sampleRate) * 1000;
    const lengthMs = (chunk.samples.length / sampleRate) * 1000;
    // An engine's time outside the chunk it was sent (or not a number) is kept inside it.
    const at = (ms: number) =>
      Math.round(offsetMs + Math.min(lengthMs, Math.max(0, Number.isFinite(ms) ? ms : 0)));
    const result = await r.transcribe(
      {
        wav: monoWav(chunk.samples, sampleRate),
        fileName: `${r.callSid}-${speaker}-${Math.round(offsetMs)}.wav`,
        durationMs: lengthMs,
      },
      r.signal,
    );
    model ||= result.model;
    language ??= result.language;
    for (const segment of result.segments) {
      const text = segment.text.trim();
      if (!text) continue;
      let subSpeaker: string | null = null;
      if (r.diarize && segment.speakerId !== null) {
        const key = `${channel}\u0000${segment.speakerId}`;
        subSpeaker =
          voices.get(key) ??
          `${speaker}.${[...voices.keys()].filter((k) => k.startsWith(`${channel}\u0000`)).length + 1}`;
        voices.set(key, subSpeaker);
      }
      utterances.push({
        speaker,
        subSpeaker,
        text,
        startMs: at(segment.startMs),
        endMs: at(segment.endMs),
        words: segment.words.map((w) => ({
          word: w.word.trim(),
          startMs: at(w.startMs),
          endMs: at(w.endMs),
        })),
      });
    }
  };
  for await (const blocks of wavChannels(r.wav, (layout) => {
    sampleRate = layout.sampleRate;
    chunkers = Array.from(
      { length: layout.channels },
      () => new ChannelChunker(layout.sampleRate, r.transcriber.maxChunkMs),
    );
  })) {
    r.signal.throwIfAborted();
    for (let c = 0; c < blocks.length; c++)
      for (const chunk of (chunkers[c] as ChannelChunker).push(blocks[c] as Int16Array)) await send(c, chunk);
  }
  for (let c = 0; c < chunkers.length; c++) {
    const last = (chunkers[c] as ChannelChunker).end();
    if (last) await send(c, last);
  }
  utterances.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  // One voice on a channel is just its speaker: sub-speakers say who is who where there are two or more.
  const voicesOn = new Map<string, Set<string>>();
  for (const u of utterances)
    if (u.subSpeaker) voicesOn.set(u.speaker, (voicesOn.get(u.speaker) ?? new Set()).add(u.subSpeaker));
  const refined = utterances.map((u) =>
    u.subSpeaker && (voicesOn.get(u.speaker)?.size ?? 0) < 2 ? { ...u, subSpeaker: null } : u,
  );
  return {
    engine: r.transcriber.name,
    model: model || 'unknown',
    language,
    createdAt: new Date(r.wallNow()).toISOString(),
    utterances: refined,
    contextBias: [...r.contextBias],
    channels: r.speakers.filter((s) => s !== NO_CHANNEL).length,
    chunks,
  };
}
