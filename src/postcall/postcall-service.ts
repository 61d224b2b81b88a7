import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Call, CallObserver } from '../calls/call.js';
import type { CallStore } from '../calls/call-store.js';
import type { Clock } from '../clock.js';
import { isVoxlineError } from '../errors.js';
import type { PostcallMetrics, PostcallStage } from '../observability/postcall-metrics.js';
import type { RecordingInfo } from '../recording/call-recorder.js';
import type { EventData, EventType } from '../webhooks/event-schemas.js';
import { transcriptAgreement } from './agreement.js';
import type { BatchTranscriber } from './batch-transcription.js';
import { CallEnds } from './call-ends.js';
import { type FinishedCall, finishedCall, storedFinishedCall } from './finished-call.js';
import type { PostcallConfig } from './postcall-config.js';
import { PostcallQueue } from './postcall-queue.js';
import { refineRecording } from './refine-recording.js';
import { redactRefined } from './refined-redaction.js';
import type { RefinedTranscript } from './refined-transcript.js';
import { RetriesExhausted, type RetryPolicy, withRetries } from './retrying.js';

/** What the analysis step needs of an analyzer (CallAnalyzer is the real one). */
export interface Analyzer {
  analyze(
    input: {
      readonly callSid: string;
      readonly utterances: readonly { speaker: string; text: string; startMs: number; endMs: number }[];
      readonly speakers: readonly string[];
    },
    signal: AbortSignal,
  ): Promise<Omit<EventData<'call.analyzed'>, 'source'> & { readonly model: string }>;
}

export interface PostcallServiceOptions {
  readonly config: PostcallConfig | undefined;
  readonly transcriber: BatchTranscriber | undefined;
  readonly analyzer: Analyzer | undefined;
  /** Calls are recorded (RECORDING_FORMAT is not none): a recording settles each one. */
  readonly recorded: boolean;
  readonly store: CallStore;
  /** The finished recording; `signal` ends the read (shutdown, erasure). */
  readonly readWav: (callSid: string, signal: AbortSignal) => Promise<Readable>;
  readonly publish: <T extends EventType>(
    call: Pick<Call, 'callSid' | 'log'>,
    type: T,
    data: EventData<T>,
  ) => void;
  readonly clock: Clock;
  readonly metrics: (queue: PostcallQueue) => PostcallMetrics;
  readonly publicUrl: () => string;
  readonly log: FastifyBaseLogger;
  readonly random?: () => number;
  /** Analysis retries (the batch engine's are POSTCALL_RETRIES). */
  readonly analysisRetries?: number;
}

const RETRY_BASE_MS = 2_000;
/** How long close() waits for aborted jobs to stop. */
const CLOSE_ABORTED_MS = 5_000;
/** A restart picks up post-call work of calls that ended this recently… */
const RECOVER_MS = 24 * 3_600_000;
/** …among the newest this many ended calls. */
const RECOVER_MAX_CALLS = 500;
const RETRY_MAX_MS = 120_000;

/**
 * After each call: once its live transcript is complete and its recording settled, the refined
 * transcript (POSTCALL_ENGINE: the recording's channels through the batch engine, redacted like
 * the live one, stored, `transcript.refined`), then the analysis (ANALYSIS_LLM_*: of the refined
 * transcript, or the live one without, stored, `call.analyzed`). A step that fails after its
 * retries is `postcall.failed` and a metric; the call's record and live transcript are untouched.
 */
export class PostcallService implements CallObserver {
  readonly #o: PostcallServiceOptions;
  readonly #queue: PostcallQueue;
  readonly #metrics: PostcallMetrics;
  /** Queued and running jobs by call, for erasure to stop (bounded by the queue). */
  readonly #jobs = new Map<string, { readonly controller: AbortController; readonly done: Promise<void> }>();
  readonly #ends: CallEnds;

  constructor(options: PostcallServiceOptions) {
    this.#o = options;
    this.#queue = new PostcallQueue(options.config?.concurrency ?? 2, options.config?.queueMax ?? 1_000);
    this.#metrics = options.metrics(this.#queue);
    this.#ends = new CallEnds(options.recorded, (call, recorded) => this.#over(call, recorded));
  }

  get enabled(): boolean {
    return (this.#o.transcriber !== undefined && this.#o.recorded) || this.#o.analyzer !== undefined;
  }

  get queue(): Pick<PostcallQueue, 'waiting' | 'running' | 'idle'> {
    return this.#queue;
  }

  callStarted(call: Call): void {
    if (this.enabled) this.#ends.watch(call);
  }

  /** The call's recording is finished (`info`), or none came. */
  recordingSettled(call: Call, info: RecordingInfo | undefined): void {
    this.#ends.recordingSettled(call, info);
  }

  /**
   * Shutdown, once calls have drained: the work under way and queued gets `graceMs` to finish,
   * then what is left is aborted (logged: those calls get no post-call events).
   */
  async close(graceMs: number): Promise<void> {
    this.#ends.clear();
    await within(this.#o.clock, graceMs, this.#queue.idle());
    const left = this.#queue.waiting + this.#queue.running;
    if (left > 0) this.#o.log.warn({ calls: left }, 'shutting down: post-call work not finished is dropped');
    // Aborted jobs end at their next await; one stuck past that (a read that ignores its signal)
    // is left behind rather than holding the process open.
    await within(this.#o.clock, CLOSE_ABORTED_MS, this.#queue.close());
  }

  #retries(retries: number): RetryPolicy {
    const { clock, random } = this.#o;
    return { retries, baseMs: RETRY_BASE_MS, maxMs: RETRY_MAX_MS, clock, ...(random ? { random } : {}) };
  }

  #over(call: Call, recorded: boolean): void {
    const finished = finishedCall(call, this.#o.config?.contextBias ?? [], recorded);
    if (!this.#offer(finished)) {
      call.log.warn(
        { waiting: this.#queue.waiting },
        'post-call queue full: this call gets no post-call work',
      );
      this.#failed(
        finished,
        this.#o.transcriber ? 'refine' : 'analyze',
        'VL_ERR_CAPACITY',
        'queue_full: POSTCALL_QUEUE_MAX calls were waiting',
        0,
      );
    }
  }

  /**
   * Erasure: the call's post-call work is dropped if it waits, aborted if it runs (resolves once
   * it has stopped), so nothing of the call is written or sent after it is erased.
   */
  async forget(callSid: string): Promise<void> {
    this.#ends.forget(callSid);
    const job = this.#jobs.get(callSid);
    if (!job) return;
    job.controller.abort();
    await job.done;
  }

  /** Queues the call's work under its own abort (erasure), joined to the queue's (shutdown). */
  #offer(call: FinishedCall): boolean {
    const controller = new AbortController();
    let settle = () => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const offered = this.#queue.offer(async (queueSignal) => {
      try {
        if (!controller.signal.aborted)
          await this.#run(call, AbortSignal.any([queueSignal, controller.signal]));
      } finally {
        if (this.#jobs.get(call.callSid)?.controller === controller) this.#jobs.delete(call.callSid);
        settle();
      }
    });
    if (offered) this.#jobs.set(call.callSid, { controller, done });
    return offered;
  }

  async #run(call: FinishedCall, signal: AbortSignal): Promise<void> {
    const done = async (kind: 'refined' | 'analysis') =>
      call.recovered ? await this.#o.store.document(call.callSid, kind) : undefined;
    let refined: RefinedTranscript | undefined;
    if (this.#o.transcriber && this.#o.config && call.recorded) {
      const stored = await done('refined');
      refined = stored
        ? (JSON.parse(stored) as RefinedTranscript)
        : await this.#step(call, 'refine', signal, () => this.#refine(call, signal));
    }
    if (this.#o.analyzer && !signal.aborted && !(await done('analysis')))
      await this.#step(call, 'analyze', signal, () => this.#analyze(call, refined, signal));
    if (signal.aborted) return; // shutting down (a restart picks it up again), or erased
    // Over, whatever the outcome: a restart does not do it again.
    await this.#o.store
      .saveDocument(
        call.callSid,
        'postcall',
        JSON.stringify({ finishedAt: new Date(this.#o.clock.wallNow()).toISOString() }),
      )
      .catch((err: unknown) => call.log.warn({ err }, 'post-call work could not be marked done'));
  }

  /**
   * After a restart: the ended calls of the last RECOVER_MS whose post-call work never finished
   * (the process stopped first) are queued again; those done or failed are not. On a shared
   * store only this instance's calls (by INSTANCE_ID) are taken. Returns how many were queued.
   */
  async recover(options: {
    readonly instance: string;
    readonly redaction: (parameters: Readonly<Record<string, string>>) => Call['redaction'];
    readonly agentLabel: string;
  }): Promise<number> {
    if (!this.enabled) return 0;
    const now = this.#o.clock.wallNow();
    const calls = await this.#o.store.listCalls('ended', RECOVER_MAX_CALLS, now);
    let queued = 0;
    for (const stored of calls) {
      const mine = this.#o.store.shared
        ? (stored.recording?.instance ?? stored.instance.id) === options.instance
        : true;
      const ended = stored.endedAt ? Date.parse(stored.endedAt) : Date.parse(stored.instance.seenAt);
      if (!mine || now - ended > RECOVER_MS || (this.#o.recorded && !stored.recording)) continue;
      if (await this.#o.store.document(stored.callSid, 'postcall')) continue;
      const finished = await storedFinishedCall(stored, this.#o.store, {
        configuredBias: this.#o.config?.contextBias ?? [],
        redaction: options.redaction,
        agentLabel: options.agentLabel,
        log: this.#o.log,
      });
      if (this.#offer(finished)) queued++;
    }
    if (queued > 0) this.#o.log.info({ calls: queued }, 'post-call work picked up again after a restart');
    return queued;
  }

  async #step<T>(
    call: FinishedCall,
    stage: PostcallStage,
    signal: AbortSignal,
    work: () => Promise<T>,
  ): Promise<T | undefined> {
    try {
      const result = await work();
      this.#metrics.done(stage, true);
      return result;
    } catch (err) {
      if (signal.aborted) return undefined; // shutting down or erased: not this call's failure
      const attempts = err instanceof RetriesExhausted ? err.attempts : 1;
      const cause = err instanceof RetriesExhausted ? err.cause : err;
      const code = isVoxlineError(cause) ? cause.code : 'VL_ERR_INTERNAL';
      // voxline's own errors say what went wrong in words fit for an event; anything else (a path,
      // a bucket's key, a library's text) stays in the log.
      const message = isVoxlineError(cause) ? cause.message : 'an internal error: see the log';
      call.log.warn({ err: cause, stage, attempts }, 'post-call work failed');
      this.#metrics.done(stage, false);
      this.#failed(call, stage, code, message, attempts);
      return undefined;
    }
  }

  async #refine(call: FinishedCall, signal: AbortSignal): Promise<RefinedTranscript> {
    const transcriber = this.#o.transcriber as BatchTranscriber;
    const config = this.#o.config as PostcallConfig;
    const policy = this.#retries(config.retries);
    // One pass over the recording; each request to the engine is retried on its own (a restart
    // re-reads it from the start).
    const draft = await refineRecording({
      callSid: call.callSid,
      wav: await this.#o.readWav(call.callSid, signal),
      speakers: call.speakers,
      contextBias: call.contextBias,
      diarize: config.diarize,
      transcriber,
      wallNow: () => this.#o.clock.wallNow(),
      signal,
      transcribe: (chunk, chunkSignal) =>
        withRetries(
          (s) =>
            transcriber.transcribe({ ...chunk, contextBias: call.contextBias, diarize: config.diarize }, s),
          retryable,
          policy,
          chunkSignal,
          () => this.#metrics.retried('refine'),
        ),
    });
    const utterances = call.redaction ? redactRefined(draft.utterances, call.redaction) : draft.utterances;
    const agreement = transcriptAgreement(call.live, utterances);
    const refined: RefinedTranscript = { ...draft, utterances, agreement };
    await this.#o.store.saveDocument(call.callSid, 'refined', JSON.stringify(refined));
    this.#metrics.agreement(agreement.wer);
    this.#o.publish(call, 'transcript.refined', {
      url: `${this.#o.publicUrl()}/v1/calls/${call.callSid}/transcript?version=refined`,
      engine: refined.engine,
      model: refined.model,
      language: refined.language,
      utterances: refined.utterances.map((u) => ({ ...u, words: u.words.map((w) => ({ ...w })) })),
      contextBias: [...refined.contextBias],
      channels: refined.channels,
      chunks: refined.chunks,
      agreement: { ...agreement, perSpeaker: { ...agreement.perSpeaker } },
    });
    return refined;
  }

  async #analyze(
    call: FinishedCall,
    refined: RefinedTranscript | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const analyzer = this.#o.analyzer as Analyzer;
    const utterances = refined
      ? refined.utterances.map((u) => ({
          speaker: u.subSpeaker ?? u.speaker,
          text: u.text,
          startMs: u.startMs,
          endMs: u.endMs,
        }))
      : call.live;
    if (utterances.length === 0) {
      // Nothing was said (an unanswered or silent call): nothing to analyze, and no failure.
      call.log.info('no words on the call: not analyzed');
      return;
    }
    // The channels' speakers and, where one channel had two voices, theirs: sentiment may name either.
    const speakers = [
      ...new Set([...(refined?.utterances.map((u) => u.speaker) ?? []), ...utterances.map((u) => u.speaker)]),
    ];
    const analysis = await withRetries(
      (s) => analyzer.analyze({ callSid: call.callSid, utterances, speakers }, s),
      retryable,
      this.#retries(this.#o.analysisRetries ?? 2),
      signal,
      () => this.#metrics.retried('analyze'),
    );
    const data: EventData<'call.analyzed'> = { ...analysis, source: refined ? 'refined' : 'live' };
    await this.#o.store.saveDocument(call.callSid, 'analysis', JSON.stringify(data));
    this.#o.publish(call, 'call.analyzed', data);
  }

  #failed(
    call: Pick<FinishedCall, 'callSid' | 'log'>,
    stage: PostcallStage,
    code: string,
    message: string,
    attempts: number,
  ): void {
    this.#o.publish(call, 'postcall.failed', { stage, code, message: message.slice(0, 500), attempts });
  }
}

function retryable(err: unknown): boolean {
  return isVoxlineError(err, 'VL_ERR_BATCH_ENGINE') || isVoxlineError(err, 'VL_ERR_ANALYSIS_FAILED');
}

/** Waits for `work`, or `ms` on `clock`, whichever comes first. */
async function within(clock: Clock, ms: number, work: Promise<void>): Promise<void> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  await Promise.race([
    work,
    new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clock.clearTimeout(timer);
}
