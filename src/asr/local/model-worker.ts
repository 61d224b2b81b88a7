/**
 * A model worker thread: loads Voxtral's ONNX export and runs one generation at a time for the
 * main thread (worker-instance.ts), so that onnxruntime's blocking runs never stall the event loop
 * that carries every call's media. Started with a ModelWorkerSetup as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VoxlineError } from '../../errors.js';
import { UtteranceAudio } from './utterance-audio.js';
import { runGeneration } from './voxtral-generation.js';
import { type LoadedVoxtral, loadFailureReason, loadVoxtralOnnx } from './voxtral-onnx.js';
import type { FromModelWorker, ModelWorkerSetup, ToModelWorker } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('model-worker.ts runs as a worker thread');
const setup = workerData as ModelWorkerSetup;
const post = (message: FromModelWorker) => port.postMessage(message);

let loaded: LoadedVoxtral | undefined;
let current:
  | { readonly id: number; readonly audio: UtteranceAudio; readonly running: Promise<unknown> }
  | undefined;

port.on('message', (message: ToModelWorker) => {
  switch (message.type) {
    case 'start':
      start(message.id);
      break;
    case 'audio':
      if (current?.id === message.id) current.audio.append(message.samples);
      break;
    case 'end':
      if (current?.id === message.id) current.audio.end();
      break;
    case 'cancel':
      if (current?.id === message.id) current.audio.cancel();
      break;
    case 'dispose':
      void dispose();
      break;
  }
});

function start(id: number): void {
  if (!loaded) {
    post({ type: 'failed', id, message: 'the model is not loaded' });
    return;
  }
  const audio = new UtteranceAudio();
  const running = runGeneration(loaded, audio, setup.maxUtteranceMs, (delta) =>
    post({ type: 'delta', id, delta }),
  );
  current = { id, audio, running };
  running.then(
    (result) => {
      if (current?.id === id) current = undefined;
      post(result ? { type: 'done', id, ...result } : { type: 'cancelled', id });
    },
    (err: unknown) => {
      if (current?.id === id) current = undefined;
      post({ type: 'failed', id, message: err instanceof Error ? err.message : String(err) });
    },
  );
}

async function dispose(): Promise<void> {
  // A model freed mid-generation crashes: the running one stops first (cancelled, it ends soon).
  current?.audio.cancel();
  await current?.running.catch(() => undefined);
  try {
    await loaded?.model.dispose();
  } finally {
    loaded = undefined;
    post({ type: 'disposed' });
  }
}

const PREFIX = `${new VoxlineError('VL_ERR_MODEL_UNAVAILABLE').message}: `;
try {
  loaded = await loadVoxtralOnnx({
    ...setup.model,
    onProgress: (file, percent, loadedBytes, totalBytes) =>
      post({ type: 'progress', file, percent, loaded: loadedBytes, total: totalBytes }),
  });
  post({ type: 'loaded' });
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  post({
    type: 'load-failed',
    detail: message.startsWith(PREFIX) ? message.slice(PREFIX.length) : message,
    reason: loadFailureReason(err),
  });
}
