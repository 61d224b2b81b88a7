import type { SttErrorCode } from './transcript-event.js';

/** Limits every realtime WebSocket engine shares. */
export interface RealtimeLimits {
  /** Audio held per leg while the engine has not acknowledged it (covers one whole utterance). */
  readonly maxBufferMs: number;
  readonly connectTimeoutMs: number;
  /** After an utterance's end is sent, how long the server may take to finish it. */
  readonly doneTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /**
   * Audio per append, at least (ASR_APPEND_MS): frames go out in groups of one model step (80 ms)
   * rather than one append each, a quarter of the messages for the same audio. The end of an
   * utterance goes out at once. Absent: every frame is its own append.
   */
  readonly appendMs?: number;
}

/** What a stream reports to the engine's metrics (by the leg's track, a fixed set, not its label). */
export interface StreamObserver {
  latency(kind: 'partial' | 'final', seconds: number): void;
  reconnect(): void;
  audioSent(track: string, seconds: number): void;
  dropped(track: string, ms: number, code: SttErrorCode): void;
  /** In-process engines: compute time over audio time of an utterance (above 1: behind real time). */
  realTimeFactor?(leg: string, ratio: number): void;
  /** An append was written on the engine socket: audio from `startMs` on the call clock (benchmarks). */
  appended?(callSid: string, leg: string, startMs: number): void;
  /** A session was replaced between utterances before the server's age limit (MISTRAL_SESSION_MAX_MS). */
  sessionRotated?(): void;
  /** A leg waited this long for a session under a cap on open sessions (MISTRAL_MAX_SESSIONS). */
  sessionWaited?(seconds: number): void;
}
