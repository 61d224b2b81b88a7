import { newStats, type SpeechToText, type SttStream } from '../../src/asr/stt.js';

/**
 * A speech engine behind the port (not a wire double): for each utterance it gives `partial` with
 * the first frame and `final` the moment the utterance is flushed, so tests choose exactly what
 * the agent hears and whether the final agrees with the partial.
 */
export function scriptedStt(script: (utterance: number) => { partial: string; final: string }): SpeechToText {
  return {
    name: 'scripted',
    stream(options) {
      let utterance = 0;
      let startMs: number | undefined;
      const stream: SttStream = {
        stats: newStats(),
        pushFrame(frame) {
          if (startMs !== undefined) return;
          startMs = frame.startMs;
          utterance++;
          const text = script(utterance).partial;
          options.onEvent({
            type: 'partial',
            leg: options.leg,
            utteranceId: utterance,
            text,
            startMs,
            audioMs: startMs,
          });
        },
        flush(speechEndMs) {
          if (startMs === undefined) return;
          const text = script(utterance).final;
          options.onEvent({
            type: 'final',
            leg: options.leg,
            utteranceId: utterance,
            text,
            startMs,
            endMs: speechEndMs,
            words: [],
            recovered: false,
            engine: 'scripted',
          });
          startMs = undefined;
        },
        endInput: async () => undefined,
        close: () => undefined,
        pendingFromMs: () => startMs,
      };
      return stream;
    },
    probe: async () => ({ engine: 'scripted', ready: true, endpoints: [] }),
    close: async () => undefined,
  };
}
