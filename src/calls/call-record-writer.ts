import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { RecordingInfo } from '../recording/call-recorder.js';
import type { SequencedEvent } from '../transcripts/call-transcript.js';
import type { Call, CallObserver } from './call.js';
import { CALL_REFRESH_MS, type CallStore } from './call-store.js';

/** Transcript writes one call may have queued (finals and errors; partials and snapshots coalesce). */
const MAX_QUEUED = 1_000;

/** One call's writes, in order; a snapshot or a leg's partial already queued is not queued again. */
interface CallQueue {
  readonly call: Call;
  readonly tasks: (() => Promise<void>)[];
  snapshotQueued: boolean;
  readonly partials: Map<string, SequencedEvent>;
  running: boolean;
  failures: number;
  dropped: number;
  finished: boolean;
}

/**
 * Writes the calls this instance holds into the call store, so any instance can answer for them:
 * the record at start, every CALL_REFRESH_MS while live and at the end; each final and error as it
 * happens; partials passed on to followers; the transcript's end. Writes of one call go in order,
 * off the audio path (nothing here is awaited by a carrier), and a store that is down costs log
 * lines and the records, never the call.
 */
export class CallRecordWriter implements CallObserver {
  readonly #store: CallStore;
  readonly #instance: string;
  readonly #clock: Clock;
  readonly #queues = new Map<string, CallQueue>();
  readonly #idle = new Set<() => void>();

  constructor(store: CallStore, instance: string, clock: Clock) {
    this.#store = store;
    this.#instance = instance;
    this.#clock = clock;
  }

  callStarted(call: Call): void {
    const queue: CallQueue = {
      call,
      tasks: [],
      snapshotQueued: false,
      partials: new Map(),
      running: false,
      failures: 0,
      dropped: 0,
      finished: false,
    };
    this.#queues.set(call.callSid, queue);
    this.#saveSnapshot(queue);
    call.scope.setInterval(CALL_REFRESH_MS, () => this.#saveSnapshot(queue));
    const unsubscribe = call.transcript.subscribe((event) => {
      if (event.type === 'end') {
        unsubscribe();
        this.#saveSnapshot(queue);
        this.#push(queue, () => this.#store.endTranscript(call.callSid));
        queue.finished = true;
        this.#pump(queue);
        return;
      }
      if (event.type === 'partial') {
        const queued = queue.partials.has(event.leg);
        queue.partials.set(event.leg, event);
        if (queued) return;
        this.#push(queue, async () => {
          const latest = queue.partials.get(event.leg);
          queue.partials.delete(event.leg);
          if (latest) await this.#store.addTranscriptEvent(call.callSid, latest);
        });
        return;
      }
      if (queue.tasks.length >= MAX_QUEUED) {
        if (queue.dropped++ === 0) call.log.warn('call store is behind: transcript events not stored');
        return;
      }
      this.#push(queue, () => this.#store.addTranscriptEvent(call.callSid, event));
    });
  }

  callEnded(call: Call): void {
    const queue = this.#queues.get(call.callSid);
    if (queue) this.#saveSnapshot(queue);
  }

  /** The call's recording is finished: stored after the call's record (in its queue, if it has one). */
  recordingReady(call: Call, info: RecordingInfo): void {
    const recording = {
      format: info.format,
      sampleRate: info.sampleRate,
      durationMs: Math.round(info.durationMs),
      bytes: info.bytes,
      sha256: info.sha256,
      objectUrl: info.objectUrl ?? null,
      uploaded: false,
      instance: this.#instance,
    };
    this.#write(call.callSid, call.log, () => this.#store.saveRecording(call.callSid, recording));
  }

  /** The recording's upload is confirmed (minutes later, or after a restart: the call is long gone here). */
  recordingUploaded(callSid: string, log: FastifyBaseLogger): void {
    this.#write(callSid, log, () => this.#store.recordingUploaded(callSid));
  }

  /** True while the call still has writes to make (its transcript's end, its last snapshot). */
  writing(callSid: string): boolean {
    return this.#queues.has(callSid);
  }

  /** Resolves once every queued write has been tried (before the store closes). */
  drained(): Promise<void> {
    if (this.#allIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  #allIdle(): boolean {
    for (const q of this.#queues.values()) if (q.running || q.tasks.length > 0) return false;
    return true;
  }

  #saveSnapshot(queue: CallQueue): void {
    if (queue.snapshotQueued) return;
    queue.snapshotQueued = true;
    this.#push(queue, () => {
      queue.snapshotQueued = false;
      // The state as it is when the write runs: a queued save never writes something stale.
      return this.#store.saveCall(queue.call.snapshot(), this.#instance, this.#clock.wallNow());
    });
  }

  /** A write behind the call's queued ones while it has a queue, else on its own. */
  #write(callSid: string, log: FastifyBaseLogger, task: () => Promise<void>): void {
    const queue = this.#queues.get(callSid);
    if (queue) {
      this.#push(queue, task);
      return;
    }
    task().catch((err: unknown) => log.warn({ err, callSid }, 'recording record could not be stored'));
  }

  #push(queue: CallQueue, task: () => Promise<void>): void {
    queue.tasks.push(task);
    this.#pump(queue);
  }

  #pump(queue: CallQueue): void {
    if (queue.running) return;
    const task = queue.tasks.shift();
    if (!task) {
      if (queue.finished) this.#queues.delete(queue.call.callSid);
      // Only a waiting drained() needs the scan over every call's queue.
      if (this.#idle.size > 0 && this.#allIdle()) {
        for (const resolve of this.#idle) resolve();
        this.#idle.clear();
      }
      return;
    }
    queue.running = true;
    task()
      .catch((err: unknown) => {
        const log: FastifyBaseLogger = queue.call.log;
        if (queue.failures++ === 0) log.warn({ err }, 'call record could not be stored');
        else log.debug({ err }, 'call record could not be stored');
      })
      .finally(() => {
        queue.running = false;
        this.#pump(queue);
      });
  }
}
