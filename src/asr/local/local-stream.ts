import type { FastifyBaseLogger } from 'fastify';
import type { AudioFrame } from '../../audio/frame.js';
import { type Clock, systemClock } from '../../clock.js';
import type { StreamObserver } from '../realtime-options.js';
import { newStats, type SttStream, type SttStreamOptions } from '../stt.js';
import type { SttErrorCode, TranscriptEvent } from '../transcript-event.js';
import { WordTimer } from '../word-timing.js';
import type { Generation, ModelInstance } from './model-instance.js';
import type { ModelScheduler, QueuedJob } from './model-scheduler.js';

export interface LocalStreamOptions {
  /** Audio held per leg (queued utterances), in ms; beyond it new audio is dropped and counted. */
  readonly maxBufferMs: number;
  readonly observer: StreamObserver;
}

interface Utterance {
  readonly id: number;
  readonly startMs: number;
  /** Audio waiting for the model (16 kHz floats), until its generation starts; then it goes there. */
  audio: Float32Array;
  length: number;
  /** Set while the utterance runs on a model. */
  generation: Generation | undefined;
  /** Audio of its frames, ms: reserved on the scheduler, and what is lost if it never runs. */
  heldMs: number;
  /** Call-clock start and end of its last frame. */
  lastFrameStartMs: number;
  audioEndMs: number;
  /** Set by flush(): speech ended here on the call clock; no more audio comes. */
  endMs: number | undefined;
  /** When (on the stream's clock) flush() came: a final's lag counts from here. */
  endedAt: number | undefined;
}

const NO_AUDIO = new Float32Array(0);

/**
 * A final this long (ms) after its speech ended is marked `delayed`: live, the in-process engine
 * writes it within its right-pad (about half a second of audio) of compute.
 */
export const DELAYED_FINAL_MS = 2_000;

/**
 * One leg on the in-process engine: each utterance is one streaming generation on a loaded model
 * (docs/protocols/voxtral.md §4.4). Audio feeds the generation as it arrives, 80 ms per token; partials follow the
 * decoded tokens; at flush the utterance gets the right-pad of silence that lets the model write
 * its last (delayed) words, and its final follows. A leg's utterances run one after another, each
 * waiting its turn on the model every leg shares (ModelScheduler); audio that arrives meanwhile
 * waits, bounded by `maxBufferMs`.
 */
export class LocalStream implements SttStream {
  readonly stats = newStats();
  readonly #leg: string;
  readonly #track: string;
  readonly #log: FastifyBaseLogger;
  readonly #onEvent: (event: TranscriptEvent) => void;
  readonly #options: LocalStreamOptions;
  readonly #onLost: SttStreamOptions['onLost'];
  readonly #scheduler: ModelScheduler;
  /** The utterance waiting for (or holding) a model now. */
  #turn: QueuedJob | undefined;
  readonly #queue: Utterance[] = [];
  #nextId = 0;
  /** One frame as floats, reused: the model instance copies what it is given. */
  #floats = new Float32Array(320);
  #running: Promise<void> | undefined;
  #fatal = false;
  #closed = false;
  #ending = false;
  readonly #clock: Clock;
  /** Frames are being refused (a bound is full): the leg is told once per such run, not per frame. */
  #refusing = false;

  constructor(options: SttStreamOptions, scheduler: ModelScheduler, streamOptions: LocalStreamOptions) {
    this.#leg = options.leg;
    this.#track = options.track;
    this.#log = options.log;
    this.#onEvent = options.onEvent;
    this.#onLost = options.onLost;
    this.#options = streamOptions;
    this.#scheduler = scheduler;
    this.#clock = options.clock ?? systemClock;
  }

  pushFrame(frame: AudioFrame): void {
    if (this.#closed || this.#ending) return;
    if (this.#fatal) {
      this.#drop(frame.startMs, frame.durationMs, 'engine_unavailable');
      return;
    }
    if (this.#heldMs() + frame.durationMs > this.#options.maxBufferMs) {
      this.#refuse(
        frame,
        `this leg holds ${this.#options.maxBufferMs} ms of speech waiting for the in-process engine (ASR_BUFFER_MS): new speech is dropped until it catches up`,
      );
      return;
    }
    if (!this.#scheduler.hold(frame.durationMs)) {
      this.#refuse(
        frame,
        `the in-process engine is behind: all calls together hold ${this.#scheduler.maxHeldMs} ms of speech waiting for it (LOCAL_QUEUE_MAX_MS): new speech is dropped until it catches up`,
      );
      return;
    }
    this.#refusing = false;
    let open = this.#queue.at(-1);
    if (!open || open.endMs !== undefined) {
      open = {
        id: ++this.#nextId,
        startMs: frame.startMs,
        audio: new Float32Array(16_000),
        length: 0,
        generation: undefined,
        heldMs: 0,
        lastFrameStartMs: frame.startMs,
        audioEndMs: frame.startMs,
        endMs: undefined,
        endedAt: undefined,
      };
      this.#queue.push(open);
    }
    const floats = this.#toFloats(frame.pcm);
    if (open.generation) open.generation.push(floats);
    else append(open, floats);
    open.heldMs += frame.durationMs;
    open.lastFrameStartMs = frame.startMs;
    open.audioEndMs = frame.startMs + frame.durationMs;
    this.#kick();
  }

  flush(speechEndMs: number): void {
    const open = this.#queue.at(-1);
    if (!open || open.endMs !== undefined) return;
    // A VAD that fell behind ends speech after later audio was fed to the model: the utterance then
    // ends where its audio does, so a final never ends before its own words.
    this.#end(open, speechEndMs >= open.lastFrameStartMs ? speechEndMs : open.audioEndMs);
  }

  async endInput(): Promise<void> {
    this.#ending = true;
    const open = this.#queue.at(-1);
    if (open && open.endMs === undefined) this.#end(open, open.startMs + open.heldMs);
    this.#kick();
    await this.#running;
  }

  /** Speech of `u` ended at `atMs` on the call clock: its generation pads and finishes. */
  #end(u: Utterance, atMs: number): void {
    u.endMs = atMs;
    u.endedAt = this.#clock.now();
    u.generation?.end();
    this.#kick();
  }

  /** Grows while the model works through the queue toward this leg's finals (a leg's end waits on it). */
  progress(): number {
    return this.#scheduler.steps;
  }

  pendingFromMs(): number | undefined {
    return this.#queue[0]?.startMs;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#queue.splice(0)) {
      this.#scheduler.release(u.heldMs);
      this.stats.droppedMs += u.heldMs;
      this.#onLost?.(u.startMs, u.startMs + u.heldMs);
      // A running generation stops, and its model goes back to the scheduler.
      u.generation?.cancel();
    }
    // A queued utterance leaves the queue.
    this.#turn?.cancel();
  }

  #kick(): void {
    if (this.#running || this.#fatal) return;
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0 && !this.#closed && !this.#fatal) this.#kick();
    });
  }

  /** The leg's utterances, one after another, each waiting its turn on the shared model. */
  async #run(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const utterance = this.#queue[0];
      this.#turn = this.#scheduler.submit((loaded) => this.#transcribeOne(loaded, utterance));
      try {
        await this.#turn.done;
      } catch (err) {
        // No model could be loaded: this leg is not transcribed (a later call tries again).
        this.#fail('engine_unavailable', (err as Error).message);
        return;
      } finally {
        this.#turn = undefined;
      }
      const finished = this.#queue.shift();
      if (finished) this.#scheduler.release(finished.heldMs);
    }
  }

  async #transcribeOne(model: ModelInstance, utterance: Utterance): Promise<void> {
    try {
      await this.#transcribe(model, utterance);
    } catch (err) {
      if (this.#closed) return;
      this.#log.error({ err, utterance: utterance.id }, 'local engine failed on an utterance');
      // Never transcribed, so never checked for what it says: counted lost, and masked if redacting.
      this.#drop(utterance.startMs, utterance.heldMs, 'utterance_failed');
      this.#emitError('utterance_failed', (err as Error).message, true);
    }
  }

  async #transcribe(model: ModelInstance, u: Utterance): Promise<void> {
    if (this.#closed) return;
    const timer = new WordTimer(u.startMs);
    const generation = model.generate((delta) => {
      this.#scheduler.step();
      timer.push(delta);
      if (!delta || this.#closed) return;
      this.#onEvent({
        type: 'partial',
        leg: this.#leg,
        utteranceId: u.id,
        text: timer.text.trim(),
        startMs: u.startMs,
        audioMs: timer.audioMs,
      });
    });
    // What waited goes to the model now; later frames go straight to it (pushFrame).
    u.generation = generation;
    if (u.length > 0) generation.push(u.audio.subarray(0, u.length));
    u.audio = NO_AUDIO;
    u.length = 0;
    if (u.endMs !== undefined) generation.end();
    const result = await generation.done;
    if (!result || this.#closed) return;
    const { audioMs } = result;
    // Compute only: time the generation spent waiting for speech still being spoken is not its cost.
    const ratio = result.computeMs / audioMs;
    this.#options.observer.realTimeFactor?.(this.#leg, ratio);
    this.#scheduler.observeRealTimeFactor(ratio);
    if (ratio > 1)
      this.#log.warn({ realTimeFactor: ratio, audioMs }, 'local engine is slower than real time');
    const endMs = u.endMs ?? u.startMs + u.heldMs;
    const lagMs = Math.max(0, Math.round(this.#clock.now() - (u.endedAt ?? this.#clock.now())));
    this.stats.finals++;
    this.stats.audioSecondsSent += audioMs / 1000;
    this.#options.observer.audioSent(this.#track, audioMs / 1000);
    this.#onEvent({
      type: 'final',
      leg: this.#leg,
      utteranceId: u.id,
      text: timer.text.trim(),
      startMs: u.startMs,
      endMs,
      words: timer.words(endMs),
      recovered: false,
      engine: 'local',
      delayed: lagMs > DELAYED_FINAL_MS,
      lagMs,
    });
  }

  #toFloats(pcm: Int16Array): Float32Array {
    if (this.#floats.length < pcm.length) this.#floats = new Float32Array(pcm.length);
    const floats = this.#floats.subarray(0, pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 32768;
    return floats;
  }

  #heldMs(): number {
    let ms = 0;
    for (const u of this.#queue) ms += u.heldMs;
    return ms;
  }

  #drop(startMs: number, ms: number, code: SttErrorCode): void {
    this.stats.droppedMs += ms;
    this.#options.observer.dropped(this.#track, ms, code);
    this.#onLost?.(startMs, startMs + ms);
  }

  /** A frame no bound has room for: dropped, counted, masked if redacting, and the leg told once. */
  #refuse(frame: AudioFrame, message: string): void {
    this.#drop(frame.startMs, frame.durationMs, 'audio_dropped');
    if (this.#refusing) return;
    this.#refusing = true;
    this.#log.warn({ code: 'audio_dropped' }, message);
    this.#emitError('audio_dropped', message, true);
  }

  #fail(code: SttErrorCode, message: string): void {
    if (this.#fatal) return;
    this.#fatal = true;
    for (const u of this.#queue.splice(0)) {
      this.#scheduler.release(u.heldMs);
      this.#drop(u.startMs, u.heldMs, code);
    }
    this.#emitError(code, message, false);
  }

  #emitError(code: SttErrorCode, message: string, recoverable: boolean): void {
    this.#onEvent({ type: 'error', leg: this.#leg, code, message, recoverable });
  }
}

/** Adds floats to an utterance still waiting for its model, growing its buffer by doubling. */
function append(u: Utterance, floats: Float32Array): void {
  if (u.length + floats.length > u.audio.length) {
    let size = Math.max(16_000, u.audio.length * 2);
    while (size < u.length + floats.length) size *= 2;
    const grown = new Float32Array(size);
    grown.set(u.audio.subarray(0, u.length));
    u.audio = grown;
  }
  u.audio.set(floats, u.length);
  u.length += floats.length;
}
