import type { FastifyBaseLogger } from 'fastify';
import type { StreamObserver } from '../realtime-options.js';
import type { EngineHealth, SpeechToText, SttStream, SttStreamOptions } from '../stt.js';
import { DELAYED_FINAL_MS, LocalStream } from './local-stream.js';
import { inThreadInstance, type ModelInstance } from './model-instance.js';
import { ModelScheduler } from './model-scheduler.js';
import { type LoadedVoxtral, loadFailureReason, type VoxtralOnnxOptions } from './voxtral-onnx.js';
import { spawnModelWorker } from './worker-instance.js';

export interface LocalEngineOptions {
  readonly model: Omit<VoxtralOnnxOptions, 'onProgress'>;
  /** Loaded models every leg shares (LOCAL_INSTANCES). */
  readonly instances: number;
  /** Speech all legs together may hold for the models (LOCAL_QUEUE_MAX_MS). */
  readonly maxQueuedMs?: number;
  readonly maxBufferMs: number;
  readonly maxUtteranceMs: number;
  readonly observer: StreamObserver;
  readonly log: FastifyBaseLogger;
  /**
   * Loads the model on the main thread with this instead of in a worker thread (tests that wrap
   * the model: a stalled generation, a failing one).
   */
  readonly load?: () => Promise<LoadedVoxtral>;
}

export interface LocalEngineLoad {
  readonly instances: number;
  /** Generations running now. */
  readonly running: number;
  readonly queuedUtterances: number;
  /** Speech (ms) all legs hold for the models, waiting or being transcribed. */
  readonly heldAudioMs: number;
  /** About how long (ms) the held speech takes to transcribe at the current real-time factor. */
  readonly backlogMs: number;
  readonly realTimeFactor: number | undefined;
}

/** What to do when the model cannot be loaded, said where it fails (the log, /readyz). */
export const LOAD_FAILED_NEXT =
  'download it where there is network (npm run model:pull) and set LOCAL_MODEL_PATH to the folder, ' +
  'or set VLLM_URL or MISTRAL_API_KEY, or ASR_ENGINE=none';

/** Download progress is logged at most this often per file (a 3 GB download logs about 20 lines). */
const PROGRESS_STEP_PERCENT = 5;

/**
 * Voxtral Realtime in-process: the ONNX export through transformers.js on onnxruntime-node (CPU, or
 * CUDA where its provider is installed). Every leg of every call shares LOCAL_INSTANCES loaded
 * models (usually one): utterances queue for them oldest first, so every leg is transcribed, live
 * while the machine keeps up and behind (finals late but complete) when it does not.
 */
export class LocalEngine implements SpeechToText {
  readonly name = 'local';
  readonly #options: LocalEngineOptions;
  readonly #pool: ModelScheduler;

  constructor(options: LocalEngineOptions) {
    this.#options = options;
    const logged = new Map<string, number>();
    const { load: loadHere, maxUtteranceMs } = options;
    // Each instance in its own worker thread: onnxruntime's runs block the thread they are called on.
    const load: () => Promise<ModelInstance> = loadHere
      ? async () => inThreadInstance(await loadHere(), maxUtteranceMs)
      : () =>
          spawnModelWorker({
            model: options.model,
            maxUtteranceMs,
            onProgress: (file, percent, loaded, total) => {
              this.#pool.progress = percent;
              const step = Math.floor(percent / PROGRESS_STEP_PERCENT) * PROGRESS_STEP_PERCENT;
              if ((logged.get(file) ?? -1) >= step) return;
              logged.set(file, step);
              options.log.info(
                { file, percent: step, loadedMB: Math.round(loaded / 1e6), totalMB: Math.round(total / 1e6) },
                'downloading the speech model',
              );
            },
            onStopped: (why) =>
              options.log.error(
                { reason: why },
                'a speech model worker stopped: its utterance is lost, the next one loads the model again',
              ),
          });
    this.#pool = new ModelScheduler(
      options.instances,
      async () => {
        const started = performance.now();
        const where = options.model.path ?? options.model.model;
        options.log.info(
          { model: where, dtype: options.model.dtype, device: options.model.device },
          'loading the speech model',
        );
        try {
          const loaded = await load();
          options.log.info(
            { model: where, seconds: Math.round((performance.now() - started) / 100) / 10 },
            'speech model loaded',
          );
          return loaded;
        } catch (err) {
          // One line, no stack: the reason is the network or the path, not a bug.
          options.log.error(
            { model: where, reason: loadFailureReason(err), next: LOAD_FAILED_NEXT },
            'the speech model could not be loaded: calls are answered and recorded, but not transcribed',
          );
          throw err;
        }
      },
      { maxHeldMs: options.maxQueuedMs ?? Number.POSITIVE_INFINITY },
    );
  }

  stream(options: SttStreamOptions): SttStream {
    return new LocalStream(options, this.#pool, {
      maxBufferMs: this.#options.maxBufferMs,
      observer: this.#options.observer,
    });
  }

  /** Starts loading one instance now, so the first call does not wait for the download. */
  warmUp(): void {
    void this.#pool.preload();
  }

  async probe(): Promise<EngineHealth> {
    const { state } = this.#pool;
    const url = this.#options.model.path ?? this.#options.model.model;
    const activeStreams = this.#pool.running;
    const { queuedUtterances, heldAudioMs, backlogMs, realTimeFactor } = this.load();
    const load = { queuedUtterances, heldAudioMs, backlogMs, realTimeFactor };
    const endpoint =
      state.state === 'ready'
        ? {
            url,
            state: 'up' as const,
            activeStreams,
            ...load,
            detail: this.#busyDetail(),
          }
        : state.state === 'failed'
          ? { url, state: 'down' as const, activeStreams, detail: state.error }
          : state.state === 'loading'
            ? {
                url,
                state: 'unknown' as const,
                activeStreams,
                detail: `loading (${Math.round(state.percent)} % of the current file)`,
              }
            : { url, state: 'unknown' as const, activeStreams, detail: 'not loaded yet' };
    return { engine: this.name, ready: state.state === 'ready', endpoints: [endpoint] };
  }

  /** How far behind the models are now (metrics read it on every scrape). */
  load(): LocalEngineLoad {
    const pool = this.#pool;
    return {
      instances: pool.instances,
      running: pool.running,
      queuedUtterances: pool.queued,
      heldAudioMs: pool.heldMs,
      backlogMs: Math.round(pool.backlogMs()),
      realTimeFactor: pool.realTimeFactor,
    };
  }

  /** "1/1 busy, 2 utterances waiting, 6.2 s of speech held, real-time factor 0.62, live" */
  #busyDetail(): string {
    const pool = this.#pool;
    const queued = pool.queued;
    const parts = [
      `${pool.running}/${pool.instances} busy`,
      `${queued} utterance${queued === 1 ? '' : 's'} waiting`,
    ];
    if (pool.heldMs > 0) parts.push(`${(pool.heldMs / 1000).toFixed(1)} s of speech held`);
    const rtf = pool.realTimeFactor;
    if (rtf !== undefined) parts.push(`real-time factor ${rtf.toFixed(2)}`);
    const backlogMs = pool.backlogMs();
    if (rtf !== undefined && queued > 0 && backlogMs > DELAYED_FINAL_MS)
      parts.push(`behind: finals about ${Math.round(backlogMs / 1000)} s late`);
    return parts.join(', ');
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
