import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { VoxlineError } from '../../errors.js';
import type { Generation, ModelInstance } from './model-instance.js';
import type { GenerationResult } from './voxtral-generation.js';
import type { FromModelWorker, ModelWorkerSetup, ToModelWorker } from './worker-protocol.js';

export interface ModelWorkerOptions extends ModelWorkerSetup {
  /** Download progress of each file, 0–100. */
  readonly onProgress?: (file: string, percent: number, loadedBytes: number, totalBytes: number) => void;
}

interface Running {
  readonly onDelta: (delta: string) => void;
  readonly resolve: (result: GenerationResult | undefined) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Loads the model in a worker thread (model-worker.ts) and resolves once it is loaded; rejects
 * with VL_ERR_MODEL_UNAVAILABLE when it cannot be. Generations run there; their steps come back
 * as messages, so the event loop here stays free while the model computes.
 */
export function spawnModelWorker(options: ModelWorkerOptions): Promise<ModelInstance> {
  const { onProgress, ...setup } = options;
  const worker = startWorker(setup);
  const running = new Map<number, Running>();
  let nextId = 0;
  let usable = true;
  let disposed: (() => void) | undefined;
  const send = (message: ToModelWorker, transfer?: ArrayBuffer[]) => {
    if (usable) worker.postMessage(message, transfer);
  };

  const instance: ModelInstance = {
    get usable() {
      return usable;
    },
    generate(onDelta): Generation {
      const id = ++nextId;
      const done = new Promise<GenerationResult | undefined>((resolve, reject) => {
        if (!usable) return reject(new Error('the model worker has stopped'));
        running.set(id, { onDelta, resolve, reject });
      });
      send({ type: 'start', id });
      return {
        // A copy travels (the caller may reuse its buffer); transferring it makes that one copy.
        push: (samples) => {
          const copy = samples.slice();
          send({ type: 'audio', id, samples: copy }, [copy.buffer as ArrayBuffer]);
        },
        end: () => send({ type: 'end', id }),
        cancel: () => send({ type: 'cancel', id }),
        done,
      };
    },
    async dispose() {
      if (usable) {
        const gone = new Promise<void>((resolve) => {
          disposed = resolve;
        });
        send({ type: 'dispose' });
        await gone;
      }
      usable = false;
      await worker.terminate();
    },
  };

  return new Promise<ModelInstance>((resolveLoad, rejectLoad) => {
    let loaded = false;
    const stopped = (why: string) => {
      usable = false;
      const err = new Error(`the model worker stopped: ${why}`);
      for (const r of running.values()) r.reject(err);
      running.clear();
      disposed?.();
      if (!loaded) rejectLoad(new VoxlineError('VL_ERR_MODEL_UNAVAILABLE', why, { cause: new Error(why) }));
    };
    worker.on('message', (message: FromModelWorker) => {
      switch (message.type) {
        case 'progress':
          onProgress?.(message.file, message.percent, message.loaded, message.total);
          break;
        case 'loaded':
          loaded = true;
          resolveLoad(instance);
          break;
        case 'load-failed':
          usable = false;
          void worker.terminate();
          rejectLoad(
            new VoxlineError('VL_ERR_MODEL_UNAVAILABLE', message.detail, {
              cause: new Error(message.reason),
            }),
          );
          break;
        case 'delta':
          running.get(message.id)?.onDelta(message.delta);
          break;
        case 'done':
          running.get(message.id)?.resolve({ computeMs: message.computeMs, audioMs: message.audioMs });
          running.delete(message.id);
          break;
        case 'cancelled':
          running.get(message.id)?.resolve(undefined);
          running.delete(message.id);
          break;
        case 'failed':
          running.get(message.id)?.reject(new Error(message.message));
          running.delete(message.id);
          break;
        case 'disposed':
          disposed?.();
          break;
      }
    });
    worker.on('error', (err) => stopped(err.message));
    worker.on('exit', (code) => stopped(`exited with code ${code}`));
  });
}

/**
 * The worker runs the compiled model-worker.js; from the TypeScript sources (tests, `npm run dev`)
 * it registers tsx first, which is a development dependency only.
 */
function startWorker(setup: ModelWorkerSetup): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./model-worker.js', here), { workerData: setup });
  const tsx = tsxEsmApi(here);
  const entry = new URL('./model-worker.ts', here).href;
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData: setup });
}

/** tsx's ESM registration entry, from its package exports (require.resolve would give the CJS one). */
function tsxEsmApi(from: string): string {
  const manifest = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(manifest), pkg.exports['./esm/api'].import.default)).href;
}
