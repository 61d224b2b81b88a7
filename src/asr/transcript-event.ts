/** What speech-to-text produces for a leg, on the call clock. Engines emit; transcripts store and stream. */

export interface Word {
  readonly word: string;
  /** Approximate, on the call clock (ms); see docs/engines.md "Word times" for the accuracy. */
  readonly startMs: number;
  readonly endMs: number;
}

/** The text so far of the utterance a leg is speaking; replaced by the next partial or the final. */
export interface PartialEvent {
  readonly type: 'partial';
  readonly leg: string;
  readonly utteranceId: number;
  readonly text: string;
  readonly startMs: number;
  /** Call-clock time of the audio this text reflects (start of utterance + steps decoded). */
  readonly audioMs: number;
}

export interface FinalEvent {
  readonly type: 'final';
  readonly leg: string;
  readonly utteranceId: number;
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words: readonly Word[];
  /** True when the engine connection dropped during the utterance and its audio was re-sent. */
  readonly recovered: boolean;
  readonly engine: string;
  /** Agent speech only: the caller barged in, and the text is what was heard before the cut. */
  readonly interrupted?: boolean;
  /**
   * In-process engine: the final came well after its speech ended (DELAYED_FINAL_MS), because the
   * model was behind real time or busy with other legs; the text is complete, only late.
   */
  readonly delayed?: boolean;
  /** In-process engine: ms from the end of the utterance's speech to this final. */
  readonly lagMs?: number;
}

export type SttErrorCode =
  | 'engine_unavailable'
  | 'engine_error'
  | 'model_not_found'
  | 'utterance_failed'
  | 'audio_dropped';

export interface ErrorEvent {
  readonly type: 'error';
  readonly leg: string;
  readonly code: SttErrorCode;
  readonly message: string;
  /** False when this leg will get no more transcripts from the engine. */
  readonly recoverable: boolean;
}

export type TranscriptEvent = PartialEvent | FinalEvent | ErrorEvent;
