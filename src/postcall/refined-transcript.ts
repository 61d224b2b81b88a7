/**
 * The post-call record of a call: every channel of its recording transcribed by the batch engine,
 * on the call clock, with voxline's speaker per channel (caller, agent) and the engine's diarized
 * sub-speakers inside a channel. Stored, served (`?version=refined`) and sent in
 * `transcript.refined`.
 */
export interface RefinedWord {
  readonly word: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface RefinedUtterance {
  /** voxline's speaker: the channel's leg label (caller, agent, …). */
  readonly speaker: string;
  /**
   * The engine's diarized voice inside that channel, as `<speaker>.<n>` numbered from 1 in order
   * of first speech (`caller.1`, `caller.2`); null where the engine did not diarize or heard one voice.
   */
  readonly subSpeaker: string | null;
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly RefinedWord[];
}

export interface TranscriptAgreement {
  /** Word error rate of the live transcript against the refined one (0 = same words), all speakers. */
  readonly wer: number | null;
  readonly perSpeaker: Readonly<Record<string, number | null>>;
  /** Words in the refined transcript (the reference). */
  readonly referenceWords: number;
}

export interface RefinedTranscript {
  readonly engine: string;
  readonly model: string;
  readonly language: string | null;
  readonly createdAt: string;
  readonly utterances: readonly RefinedUtterance[];
  /** Terms passed to the engine as context bias. */
  readonly contextBias: readonly string[];
  /** Audio channels sent, and chunks (requests) they took. */
  readonly channels: number;
  readonly chunks: number;
  readonly agreement: TranscriptAgreement;
}
