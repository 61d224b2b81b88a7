/**
 * What a post-call (batch) transcription engine is asked and answers, whatever its wire: Mistral's
 * `POST /v1/audio/transcriptions` or an OpenAI-compatible one. Times are ms from the start of the
 * audio sent (one chunk of one channel); the pipeline moves them onto the call clock.
 */
export interface BatchRequest {
  /** A complete WAV file (mono, 16-bit PCM). */
  readonly wav: Uint8Array;
  readonly fileName: string;
  readonly durationMs: number;
  /** Words or phrases to bias recognition towards (Mistral `context_bias`; OpenAI `prompt`). */
  readonly contextBias: readonly string[];
  /** Ask for speaker diarization inside this audio (where the engine has it). */
  readonly diarize: boolean;
  /** ISO 639-1 hint, when known. */
  readonly language?: string;
}

export interface BatchWord {
  readonly word: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface BatchSegment {
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  /** The engine's diarized speaker inside this audio (e.g. `speaker_0`), or null. */
  readonly speakerId: string | null;
  /** The segment's words with times, where the engine gave them (empty otherwise). */
  readonly words: readonly BatchWord[];
}

export interface BatchTranscription {
  /** The model that answered, as the engine named it. */
  readonly model: string;
  readonly text: string;
  readonly language: string | null;
  readonly segments: readonly BatchSegment[];
}

/**
 * One engine. `transcribe` rejects with a VoxlineError: VL_ERR_BATCH_ENGINE (worth retrying:
 * network, timeout, 429, 5xx, a body that is not a transcription; `retryAfterS` from the
 * engine's Retry-After where it sent one) or VL_ERR_BATCH_REJECTED (not: 400/401/403/404/413/422).
 */
export interface BatchTranscriber {
  /** `mistral` or `openai`: what events and metrics name it by. */
  readonly name: string;
  /** Longest audio one request may carry; longer recordings are split at silences. */
  readonly maxChunkMs: number;
  transcribe(request: BatchRequest, signal: AbortSignal): Promise<BatchTranscription>;
}
