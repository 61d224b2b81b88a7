import type { FastifyBaseLogger } from 'fastify';
import type { AudioFrame } from '../../audio/frame.js';
import { type Clock, systemClock } from '../../clock.js';
import type { StreamObserver } from '../realtime-options.js';
import { newStats, type SttStream, type SttStreamOptions } from '../stt.js';
import type { SttErrorCode, TranscriptEvent } from '../transcript-event.js';
import { STEP_MS, WordTimer } from '../word-timing.js';
import type { ModelScheduler, QueuedJob } from './model-scheduler.js';
import type { FeatureTensor, LoadedVoxtral } from './voxtral-onnx.js';

export interface LocalStreamOptions {
  /** Audio held per leg (queued utterances), in ms; beyond it new audio is dropped and counted. */
  readonly maxBufferMs: number;
  /** The longest utterance, in ms (bounds the tokens one generation may produce). */
  readonly maxUtteranceMs: number;
  readonly observer: StreamObserver;
}

interface Utterance {
  readonly id: number;
  readonly startMs: number;
  audio: Float32Array;
  length: number;
  /** Audio reserved on the scheduler for this utterance (its frames; not the silence pads). */
  heldMs: number;
  /** Set by flush(): speech ended here on the call clock; no more audio comes. */
  endMs: number | undefined;
  /** When (on the stream's clock) flush() came: a final's lag counts from here. */
  endedAt: number | undefined;
}

const SAMPLES_PER_MS = 16;

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
  #wake: (() => void) | undefined;
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
        heldMs: 0,
        endMs: undefined,
        endedAt: undefined,
      };
      this.#queue.push(open);
    }
    append(open, frame.pcm);
    open.heldMs += frame.durationMs;
    this.#kick();
  }

  flush(speechEndMs: number): void {
    const open = this.#queue.at(-1);
    if (open && open.endMs === undefined) {
      open.endMs = speechEndMs;
      open.endedAt = this.#clock.now();
      this.#kick();
    }
  }

  async endInput(): Promise<void> {
    this.#ending = true;
    const open = this.#queue.at(-1);
    if (open && open.endMs === undefined) {
      open.endMs = open.startMs + open.length / SAMPLES_PER_MS;
      open.endedAt = this.#clock.now();
    }
    this.#kick();
    await this.#running;
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
      this.stats.droppedMs += u.length / SAMPLES_PER_MS;
      this.#onLost?.(u.startMs, u.startMs + u.length / SAMPLES_PER_MS);
    }
    // A queued utterance leaves the queue; a running one stops (its feature iterator ends on close)
    // and its model goes back to the scheduler.
    this.#turn?.cancel();
    this.#wake?.();
  }

  #kick(): void {
    this.#wake?.();
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

  async #transcribeOne(loaded: LoadedVoxtral, utterance: Utterance): Promise<void> {
    try {
      await this.#transcribe(loaded, utterance);
    } catch (err) {
      if (this.#closed) return;
      this.#log.error({ err, utterance: utterance.id }, 'local engine failed on an utterance');
      this.#emitError('utterance_failed', (err as Error).message, true);
    }
  }

  async #transcribe(loaded: LoadedVoxtral, u: Utterance): Promise<void> {
    const { processor, model } = loaded;
    const first = processor.num_samples_first_audio_chunk;
    await this.#until(() => u.length >= first || u.endMs !== undefined);
    if (this.#closed) return;
    if (u.length < first) padWithSilence(u, first - u.length);
    const started = performance.now();
    const waits = { ms: 0 };
    const prompt = await processor(u.audio.subarray(0, first), {
      is_streaming: true,
      is_first_audio_chunk: true,
    });
    const timer = new WordTimer(u.startMs);
    const ids: bigint[] = [];
    let promptSeen = false;
    let printed = '';
    const streamer = loaded.streamer((step) => {
      // The first call carries the prompt (BOS and streaming pads); every later one is one 80 ms step.
      if (!promptSeen) {
        promptSeen = true;
        return;
      }
      this.#scheduler.step();
      ids.push(...step);
      const text = processor.tokenizer.decode(ids, { skip_special_tokens: true });
      const delta = text.startsWith(printed) ? text.slice(printed.length) : '';
      printed = text;
      timer.push(delta);
      if (delta) {
        this.#onEvent({
          type: 'partial',
          leg: this.#leg,
          utteranceId: u.id,
          text: timer.text.trim(),
          startMs: u.startMs,
          audioMs: timer.audioMs,
        });
      }
    });
    await model.generate({
      input_ids: prompt.input_ids as FeatureTensor,
      input_features: this.#features(loaded, u, prompt.input_features, waits),
      max_new_tokens: Math.ceil(this.#options.maxUtteranceMs / STEP_MS) + processor.num_right_pad_tokens + 8,
      streamer,
    });
    if (this.#closed) return;
    const audioMs = u.length / SAMPLES_PER_MS;
    // Compute only: time the generation spent waiting for speech still being spoken is not its cost.
    const ratio = (performance.now() - started - waits.ms) / audioMs;
    this.#options.observer.realTimeFactor?.(this.#leg, ratio);
    this.#scheduler.observeRealTimeFactor(ratio);
    if (ratio > 1)
      this.#log.warn({ realTimeFactor: ratio, audioMs }, 'local engine is slower than real time');
    const endMs = u.endMs ?? u.startMs + audioMs;
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

  /** Mel features of the utterance, 80 ms at a time, as its audio arrives; ends after the right-pad. */
  async *#features(
    loaded: LoadedVoxtral,
    u: Utterance,
    firstFeatures: FeatureTensor,
    waits: { ms: number },
  ): AsyncIterable<FeatureTensor> {
    const { processor } = loaded;
    const { hop_length, n_fft } = processor.feature_extractor.config;
    yield firstFeatures;
    let mel = processor.num_mel_frames_first_audio_chunk;
    let padded = false;
    for (;;) {
      const start = mel * hop_length - Math.floor(n_fft / 2);
      const end = start + processor.num_samples_per_audio_chunk;
      const waitFrom = performance.now();
      await this.#until(() => u.length >= end || u.endMs !== undefined);
      waits.ms += performance.now() - waitFrom;
      if (this.#closed) return;
      if (u.length < end) {
        if (padded) return;
        // Speech ended: silence for the model's delay, so its last words come out.
        padWithSilence(u, processor.num_right_pad_tokens * processor.raw_audio_length_per_tok);
        padded = true;
        if (u.length < end) return;
      }
      const chunk = await processor(u.audio.slice(start, end), {
        is_streaming: true,
        is_first_audio_chunk: false,
      });
      yield chunk.input_features;
      mel += chunk.input_features.dims[2] ?? 0;
    }
  }

  #until(ready: () => boolean): Promise<void> {
    if (ready() || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = () => {
        if (!ready() && !this.#closed) return;
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #heldMs(): number {
    let samples = 0;
    for (const u of this.#queue) samples += u.length;
    return samples / SAMPLES_PER_MS;
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
      this.#drop(u.startMs, u.length / SAMPLES_PER_MS, code);
    }
    this.#emitError(code, message, false);
    this.#wake?.();
  }

  #emitError(code: SttErrorCode, message: string, recoverable: boolean): void {
    this.#onEvent({ type: 'error', leg: this.#leg, code, message, recoverable });
  }
}

function append(u: Utterance, pcm: Int16Array): void {
  ensure(u, pcm.length);
  for (let i = 0; i < pcm.length; i++) u.audio[u.length + i] = pcm[i] / 32768;
  u.length += pcm.length;
}

function padWithSilence(u: Utterance, samples: number): void {
  ensure(u, samples);
  u.audio.fill(0, u.length, u.length + samples);
  u.length += samples;
}

/** Grows the utterance's buffer by doubling: one allocation per doubling, not one per frame. */
function ensure(u: Utterance, extra: number): void {
  if (u.length + extra <= u.audio.length) return;
  let size = u.audio.length * 2;
  while (size < u.length + extra) size *= 2;
  const grown = new Float32Array(size);
  grown.set(u.audio.subarray(0, u.length));
  u.audio = grown;
}
