import type { LegTranscriber } from '../../src/asr/leg-transcriber.js';
import { newStats, type SttStream } from '../../src/asr/stt.js';
import { VAD_WINDOW_SAMPLES } from '../../src/asr/vad/silero-vad.js';
import type { AudioFrame } from '../../src/audio/frame.js';

/** A speech-to-text stream that does nothing but what `parts` says (the test watches those). */
export function sttDouble(parts: Partial<SttStream> = {}): SttStream {
  return {
    stats: newStats(),
    pushFrame: () => undefined,
    flush: () => undefined,
    endInput: async () => undefined,
    close: () => undefined,
    pendingFromMs: () => undefined,
    ...parts,
  };
}

/** The caller's 20 ms frame of 16 kHz `pcm` starting at sample `at`. */
export function frameAt(pcm: Int16Array, at: number): AudioFrame {
  return {
    leg: 'caller',
    pcm: pcm.subarray(at, at + 320),
    mulaw: new Uint8Array(160),
    startMs: at / 16,
    durationMs: 20,
    filled: false,
  };
}

/**
 * Pushes `pcm` 20 ms at a time, waiting after each frame until the VAD has judged every whole
 * window so far: a leg whose VAD never falls behind (no overruns), however slow the machine.
 */
export async function pushPaced(transcriber: LegTranscriber, pcm: Int16Array): Promise<void> {
  const { stats } = transcriber;
  const judged = () => stats.vadWindows + stats.vadSilentWindows + stats.vadOverruns;
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    transcriber.push(frameAt(pcm, at));
    const windows = Math.floor((at + 320) / VAD_WINDOW_SAMPLES);
    while (judged() < windows) await new Promise((resolve) => setImmediate(resolve));
  }
}
