import { VoxlineError } from '../../errors.js';
import { startWorker } from '../worker-start.js';
import type { Generation, ModelInstance } from './model-instance.js';
import type { GenerationResult } from './voxtral-generation.js';
import type { FromModelWorker, ModelWorkerSetup, ToModelWorker } from './worker-protocol.js';

export interface ModelWorkerOptions extends ModelWorkerSetup {
  /** Download progress of each file, 0–100. */
  readonly onProgress?: (file: string, percent: number, loadedBytes: number, totalBytes: number) => void;
  /** The loaded worker stopped unasked (crashed or exited): its instance is no longer usable. */
  readonly onStopped?: (why: string) => void;
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
  const { onProgress, onStopped, ...setup } = options;
  const worker = startWorker(import.meta.url, './model-worker', { workerData: setup });
  const running = new Map<number, Running>();
  let nextId = 0;
  let usable = true;
  let disposed: (() => void) | undefined;
  let disposing: Promise<void> | undefined;
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
    dispose() {
      disposing ??= (async () => {
        if (usable) {
          const gone = new Promise<void>((resolve) => {
            disposed = resolve;
          });
          send({ type: 'dispose' });
          await gone;
        }
        usable = false;
        await worker.terminate();
      })();
      return disposing;
    },
  };

  return new Promise<ModelInstance>((resolveLoad, rejectLoad) => {
    let loaded = false;
    const stopped = (why: string) => {
      if (loaded && usable && !disposing) onStopped?.(why);
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
