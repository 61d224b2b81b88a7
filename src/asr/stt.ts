import type { FastifyBaseLogger } from 'fastify';
import type { AudioFrame } from '../audio/frame.js';
import type { Clock } from '../clock.js';
import type { TranscriptEvent } from './transcript-event.js';

/**
 * The speech-to-text port, shaped like livekit's SpeechStream: push a leg's frames, mark utterance
 * ends with `flush()`, read events. Every engine (vLLM, Mistral, in-process) implements it in its
 * own module; protocol duties (commits, flushes, reconnects) stay inside the engine.
 */
export interface SpeechToText {
  /** `vllm`, `mistral`, … (metric and log label). */
  readonly name: string;
  /** Opens a stream for one leg. Never throws for a dead server: that comes back as events. */
  stream(options: SttStreamOptions): SttStream;
  /** Readiness: whether the engine can serve, and why not. */
  probe(): Promise<EngineHealth>;
  /** Prepares ahead of the first call (an in-process engine starts loading its model). */
  warmUp?(): void;
  /** Stops background work (probes). Streams are closed by their owners. */
  close(): Promise<void>;
}

export interface SttStreamOptions {
  readonly callSid: string;
  /** Leg label, which is also the speaker of everything this stream transcribes. */
  readonly leg: string;
  /** The leg's track (`inbound` / `outbound`): what metrics count by, since the label is the caller's. */
  readonly track: string;
  readonly log: FastifyBaseLogger;
  /** Receives every event, in order. Called synchronously from the engine; must not throw. */
  readonly onEvent: (event: TranscriptEvent) => void;
  /**
   * Audio the stream took and will never transcribe (dropped for want of an engine, a failed
   * utterance, closed before its final), on the call clock: where a redacting recorder fails closed.
   */
  readonly onLost?: (startMs: number, endMs: number) => void;
  /** What reconnect backoff, stall timers and latency run on (the call's clock); the system clock by default. */
  readonly clock?: Clock;
}

export interface SttStream {
  /**
   * Audio of the current utterance; the first frame after a flush starts the next one.
   * `frame.pcm` is lent: the engine encodes or copies it before returning.
   */
  pushFrame(frame: AudioFrame): void;
  /** Ends the current utterance at `speechEndMs` (call clock): its final follows. */
  flush(speechEndMs: number): void;
  /** No more audio: the open utterance is flushed; resolves when its final (or failure) is out. */
  endInput(): Promise<void>;
  /** Stops now; audio not yet transcribed is counted as lost. */
  close(): void;
  /**
   * Call-clock start of the oldest audio this stream took whose final is not out yet (undefined:
   * none). What a redacting recorder waits for before it writes that audio.
   */
  pendingFromMs(): number | undefined;
  /**
   * A count that grows while the engine works toward this stream's finals (an in-process model
   * decoding, for this leg or the legs queued ahead of it). The end of a leg keeps waiting for its
   * last finals while it grows, past ASR_DONE_TIMEOUT_MS; engines without it get that timeout.
   */
  progress?(): number;
  readonly stats: SttStreamStats;
}

export interface SttStreamStats {
  /** Audio seconds written to the engine (re-sent audio counted again). */
  audioSecondsSent: number;
  reconnects: number;
  /** Audio the engine never got, in ms (buffer bound exceeded, engine gone for good). */
  droppedMs: number;
  finals: number;
}

export interface EngineHealth {
  readonly engine: string;
  readonly ready: boolean;
  readonly endpoints: readonly EndpointHealth[];
}

export interface EndpointHealth {
  readonly url: string;
  readonly state: 'up' | 'down' | 'wrong_model' | 'unknown';
  readonly detail?: string;
  /** Legs currently streaming to this endpoint. */
  readonly activeStreams: number;
  /** In-process engine: utterances waiting for a model. */
  readonly queuedUtterances?: number;
  /** In-process engine: speech (ms) all legs hold for the models, waiting or being transcribed. */
  readonly heldAudioMs?: number;
  /** In-process engine: about how long (ms) the held speech takes to transcribe at the current pace. */
  readonly backlogMs?: number;
  /** In-process engine: compute over audio time of recent utterances (above 1: behind real time). */
  readonly realTimeFactor?: number;
}

export function newStats(): SttStreamStats {
  return { audioSecondsSent: 0, reconnects: 0, droppedMs: 0, finals: 0 };
}
