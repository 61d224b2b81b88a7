/**
 * The VAD worker thread: one Silero VAD v5 session on one onnxruntime thread, running the batches
 * silero-vad.ts collects on the main thread, so that onnxruntime's blocking runs never stall the
 * event loop that carries every call's media. Started with a VadWorkerSetup as workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FromVadWorker, ToVadWorker, VadWorkerSetup } from './vad-protocol.js';

const port = parentPort;
if (!port) throw new Error('vad-worker.ts runs as a worker thread');
const { modelPath, sampleRate } = workerData as VadWorkerSetup;
const post = (message: FromVadWorker, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);

/** Context + window: 64 + 512 at 16 kHz, 32 + 256 at 8 kHz. */
const INPUT_SIZE = sampleRate === 8000 ? 32 + 256 : 64 + 512;
const HALF_STATE = 128;
const STATE_SIZE = 2 * HALF_STATE;
const sr = new Tensor('int64', BigInt64Array.from([BigInt(sampleRate)]), []);
let session: InferenceSession | undefined;
/** Runs and the release, one after another: releasing a session mid-run crashes. */
let queue: Promise<void> = Promise.resolve();

port.on('message', (message: ToVadWorker) => {
  queue = queue.then(() => (message.type === 'run' ? run(message) : close()));
});

async function run({ id, n, input, state }: Extract<ToVadWorker, { type: 'run' }>): Promise<void> {
  if (!session) {
    post({ type: 'failed', id, message: 'the VAD model is not loaded' });
    return;
  }
  try {
    const result = await session.run({
      input: new Tensor('float32', input.subarray(0, n * INPUT_SIZE), [n, INPUT_SIZE]),
      state: new Tensor('float32', state.subarray(0, n * STATE_SIZE), [2, n, HALF_STATE]),
      sr,
    });
    const output = (result.output.data as Float32Array).slice(0, n);
    // The next state goes back in the batch's own buffer: the main thread reuses its buffers
    // (fresh ones, from buffers freed on this thread, would cost it page faults every batch).
    state.set((result.stateN.data as Float32Array).subarray(0, n * STATE_SIZE), 0);
    post({ type: 'result', id, output, input, state }, [input.buffer, state.buffer] as ArrayBuffer[]);
  } catch (err) {
    post({ type: 'failed', id, message: err instanceof Error ? err.message : String(err) });
  }
}

async function close(): Promise<void> {
  const releasing = session;
  session = undefined;
  try {
    await releasing?.release();
  } finally {
    post({ type: 'closed' });
  }
}

try {
  const loaded = await InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const missing = ['input', 'state', 'sr'].find((name) => !loaded.inputNames.includes(name));
  if (missing) {
    await loaded.release();
    post({
      type: 'load-failed',
      message: `${modelPath} is not a Silero VAD v5 model: it has no "${missing}" input`,
    });
  } else {
    session = loaded;
    post({ type: 'loaded' });
  }
} catch (err) {
  post({ type: 'load-failed', message: err instanceof Error ? err.message : String(err) });
}
