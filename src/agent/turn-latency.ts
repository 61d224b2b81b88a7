/** Stages of one agent turn, each stamped with performance.now() when it happened. */
export interface TurnStamps {
  /** When the caller's last speech audio arrived (VAD end of speech, back-dated by the hangover). */
  endOfSpeech?: number;
  /** When the final transcript of the turn arrived. */
  final?: number;
  /** When the reply was asked for (before `final` when it started early on a partial). */
  replyStart?: number;
  firstToken?: number;
  firstAudio?: number;
  firstFrame?: number;
}

/** Per-turn latencies in ms, as reported in metrics and call.ended. */
export interface TurnLatency {
  readonly endOfSpeechToFinalMs: number | null;
  readonly finalToFirstTokenMs: number | null;
  readonly firstTokenToFirstAudioMs: number | null;
  readonly firstAudioToFirstFrameMs: number | null;
  /** Caller stops talking → the agent's first audio leaves voxline. */
  readonly endOfSpeechToFirstFrameMs: number | null;
  /** The reply was started on a partial before the final arrived (and kept). */
  readonly earlyStart: boolean;
}

export const LATENCY_STAGES = [
  'end_of_speech_to_final',
  'final_to_first_token',
  'first_token_to_first_audio',
  'first_audio_to_first_frame',
  'end_of_speech_to_first_frame',
] as const;
export type LatencyStage = (typeof LATENCY_STAGES)[number];

/**
 * Turns stamps into stage durations. A stage whose start came after its end (the model answered
 * an early partial before the final arrived) counts as 0: that wait was hidden from the caller.
 */
export function turnLatency(s: TurnStamps): TurnLatency {
  const span = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined ? null : Math.round(Math.max(0, to - from) * 10) / 10;
  return {
    endOfSpeechToFinalMs: span(s.endOfSpeech, s.final),
    finalToFirstTokenMs: span(s.final, s.firstToken),
    firstTokenToFirstAudioMs: span(s.firstToken, s.firstAudio),
    firstAudioToFirstFrameMs: span(s.firstAudio, s.firstFrame),
    endOfSpeechToFirstFrameMs: span(s.endOfSpeech, s.firstFrame),
    earlyStart: s.replyStart !== undefined && s.final !== undefined && s.replyStart < s.final,
  };
}

export function stageValues(latency: TurnLatency): [LatencyStage, number | null][] {
  return [
    ['end_of_speech_to_final', latency.endOfSpeechToFinalMs],
    ['final_to_first_token', latency.finalToFirstTokenMs],
    ['first_token_to_first_audio', latency.firstTokenToFirstAudioMs],
    ['first_audio_to_first_frame', latency.firstAudioToFirstFrameMs],
    ['end_of_speech_to_first_frame', latency.endOfSpeechToFirstFrameMs],
  ];
}
