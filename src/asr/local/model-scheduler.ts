import type { ModelInstance } from './model-instance.js';

export type ModelState =
  | { readonly state: 'idle' }
  | { readonly state: 'loading'; readonly percent: number }
  | { readonly state: 'ready' }
  | { readonly state: 'failed'; readonly error: string };

/** One utterance's generation: runs on a loaded model, which it has to itself until it settles. */
export type ModelJob = (model: ModelInstance) => Promise<void>;

/** A job waiting for its turn; `cancel()` takes it out of the queue (its leg closed). */
export interface QueuedJob {
  /** Settles when the job ran (or was cancelled); rejects when no model could be loaded or the engine closed first. */
  readonly done: Promise<void>;
  cancel(): void;
}

export interface SchedulerLimits {
  /**
   * Audio all legs together may hold for the model, waiting or being transcribed, in ms
   * (LOCAL_QUEUE_MAX_MS). Past it, new speech is refused (reported and counted, never silently).
   */
  readonly maxHeldMs: number;
}

/** Weight of the newest utterance in the running real-time factor. */
const RTF_SMOOTHING = 0.3;

interface Waiting {
  readonly job: ModelJob;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  cancelled: boolean;
}

/**
 * Every leg of every call on `instances` loaded models (LOCAL_INSTANCES, usually 1): utterances from
 * all legs wait in one queue, oldest first, and each runs as one generation on a free instance
 * (transformers.js keeps one generation's state per model object, so an instance runs one at a
 * time). When the machine keeps up, an utterance starts as soon as it is spoken and is fed live;
 * when it does not, utterances wait their turn and their finals come late, complete. What waits is
 * bounded twice: each leg by its own buffer (LocalStream's maxBufferMs), all legs together by
 * `maxHeldMs`, which streams reserve through `hold()` before they keep a frame.
 */
export class ModelScheduler {
  readonly #instances: number;
  readonly #load: () => Promise<ModelInstance>;
  readonly #queue: Waiting[] = [];
  /** Loaded (or loading) instances not running a job. */
  readonly #free: Promise<ModelInstance>[] = [];
  readonly #all = new Set<Promise<ModelInstance>>();
  #started = 0;
  #running = 0;
  #state: ModelState = { state: 'idle' };
  #closed = false;
  #idle: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #maxHeldMs: number;
  #heldMs = 0;
  #realTimeFactor: number | undefined;
  #steps = 0;

  constructor(
    instances: number,
    load: () => Promise<ModelInstance>,
    limits: SchedulerLimits = { maxHeldMs: Number.POSITIVE_INFINITY },
  ) {
    this.#instances = instances;
    this.#load = load;
    this.#maxHeldMs = limits.maxHeldMs;
  }

  /** Audio (ms) every leg holds for the model now: queued utterances and the ones running. */
  get heldMs(): number {
    return this.#heldMs;
  }

  get maxHeldMs(): number {
    return this.#maxHeldMs;
  }

  /** Reserves room for `ms` of audio; false when all legs together already hold `maxHeldMs`. */
  hold(ms: number): boolean {
    if (this.#heldMs + ms > this.#maxHeldMs) return false;
    this.#heldMs += ms;
    return true;
  }

  /** Gives back audio reserved with `hold()`: it was transcribed, or it was dropped. */
  release(ms: number): void {
    this.#heldMs = Math.max(0, this.#heldMs - ms);
  }

  /**
   * Compute time over audio time, smoothed over recent utterances (undefined before the first):
   * above 1 the machine cannot keep up and utterances queue.
   */
  get realTimeFactor(): number | undefined {
    return this.#realTimeFactor;
  }

  observeRealTimeFactor(ratio: number): void {
    if (!Number.isFinite(ratio) || ratio < 0) return;
    this.#realTimeFactor =
      this.#realTimeFactor === undefined
        ? ratio
        : this.#realTimeFactor + RTF_SMOOTHING * (ratio - this.#realTimeFactor);
  }

  /** A generation decoded a step: the queue is moving (what a leg's end waits on, not a clock). */
  step(): void {
    this.#steps++;
  }

  /** Steps decoded by every instance so far: grows while the model works through the queue. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * About how long (ms) the held audio takes to transcribe at the current real-time factor: how
   * far behind live the last queued final will come out.
   */
  backlogMs(): number {
    const rtf = this.#realTimeFactor ?? 1;
    return (this.#heldMs * rtf) / this.#instances;
  }

  get instances(): number {
    return this.#instances;
  }

  /** Generations running now. */
  get running(): number {
    return this.#running;
  }

  /** Utterances waiting for a free instance. */
  get queued(): number {
    return this.#queue.length;
  }

  get state(): ModelState {
    return this.#state;
  }

  set progress(percent: number) {
    if (this.#state.state === 'loading') this.#state = { state: 'loading', percent };
  }

  /** Queues a job behind every job queued before it. */
  submit(job: ModelJob): QueuedJob {
    let entry: Waiting | undefined;
    const done = new Promise<void>((resolve, reject) => {
      entry = { job, resolve, reject, cancelled: false };
    });
    const waiting = entry as Waiting;
    if (this.#closed) {
      waiting.reject(new Error('the local engine is closed'));
      return { done, cancel: () => undefined };
    }
    this.#queue.push(waiting);
    this.#pump();
    return {
      done,
      cancel: () => {
        if (waiting.cancelled) return;
        waiting.cancelled = true;
        const index = this.#queue.indexOf(waiting);
        if (index >= 0) {
          this.#queue.splice(index, 1);
          waiting.resolve();
        }
      },
    };
  }

  /** Starts loading one instance ahead of the first call (the download begins at start). */
  preload(): Promise<void> {
    if (this.#free.length > 0 || this.#started >= this.#instances || this.#closed) return Promise.resolve();
    const loading = this.#startLoad();
    this.#free.push(loading);
    return loading.then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Waits for running generations to stop (a model freed mid-generation crashes), then frees all.
   * Queued jobs are rejected, never resolved as if they had run.
   */
  async close(): Promise<void> {
    this.#closed = true;
    // Queued utterances will not run: their legs hear why, and report their audio as lost.
    const closed = new Error('the local engine closed before this utterance had its turn');
    for (const waiting of this.#queue.splice(0)) waiting.reject(closed);
    if (this.#running > 0) {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#idle = { promise, resolve };
      await promise;
    }
    const all = [...this.#all];
    this.#all.clear();
    this.#free.length = 0;
    await Promise.all(
      all.map((m) =>
        m.then(
          (instance) => instance.dispose(),
          () => undefined,
        ),
      ),
    );
  }

  /** Gives each free instance (loading one where fewer than `instances` exist) the oldest job. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let model = this.#free.shift();
      if (!model) {
        if (this.#started >= this.#instances) return;
        model = this.#startLoad();
      }
      const waiting = this.#queue.shift() as Waiting;
      this.#run(model, waiting);
    }
  }

  #run(model: Promise<ModelInstance>, waiting: Waiting): void {
    this.#running++;
    model
      .then(
        async (loaded) => {
          if (!loaded.usable) {
            // It died while free (its worker stopped): forgotten, and the job waits for another.
            this.#forget(model);
            if (waiting.cancelled) waiting.resolve();
            else if (this.#closed)
              waiting.reject(new Error('the local engine closed before this utterance had its turn'));
            else this.#queue.unshift(waiting);
            return;
          }
          try {
            if (!waiting.cancelled) await waiting.job(loaded);
            waiting.resolve();
          } catch (err) {
            waiting.reject(err as Error);
          } finally {
            // An instance that can run no more (its worker died) is forgotten: the next job loads another.
            if (loaded.usable) this.#free.push(model);
            else this.#forget(model);
          }
        },
        (err: Error) => {
          // The load failed: this job and every one queued now learn why; the slot opens again.
          waiting.reject(err);
          for (const other of this.#queue.splice(0)) other.reject(err);
        },
      )
      .finally(() => {
        this.#running--;
        if (this.#running === 0) this.#idle?.resolve();
        this.#pump();
      });
  }

  #startLoad(): Promise<ModelInstance> {
    this.#started++;
    if (this.#state.state !== 'ready') this.#state = { state: 'loading', percent: 0 };
    const loading = this.#load();
    this.#all.add(loading);
    loading.then(
      () => {
        this.#state = { state: 'ready' };
      },
      (err: Error) => {
        // A failed load is forgotten, so a later utterance tries again (the network may be back).
        this.#forget(loading);
        this.#state = { state: 'failed', error: err.message };
      },
    );
    return loading;
  }

  #forget(instance: Promise<ModelInstance>): void {
    if (!this.#all.delete(instance)) return;
    this.#started--;
    const index = this.#free.indexOf(instance);
    if (index >= 0) this.#free.splice(index, 1);
  }
}
