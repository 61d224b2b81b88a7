/**
 * The flite worker, as source text: it runs in a worker_thread started with `eval`, which works
 * the same from TypeScript sources (tests, tsx) and from the compiled dist/ (no worker file to
 * locate or build). It compiles flite's WASI binary once, then for each job runs flite with the
 * text, writing a WAV into the engine's temporary folder, and posts the samples back.
 */
export const FLITE_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const path = require('node:path');

const dir = workerData.dir;
const module = new WebAssembly.Module(fs.readFileSync(workerData.wasmPath));

function synthesize(id, text, voice) {
  const file = 'utt-' + id + '.wav';
  // flite reads its text from the command line; the WASI sandbox sees only this folder.
  const wasi = new WASI({
    version: 'preview1',
    args: ['flite', '-voice', voice, '-t', text, '-o', '/out/' + file],
    preopens: { '/out': dir },
    returnOnExit: true,
  });
  const instance = new WebAssembly.Instance(module, wasi.getImportObject());
  const code = wasi.start(instance);
  const target = path.join(dir, file);
  if (code !== 0 || !fs.existsSync(target)) throw new Error('flite exited with ' + code);
  const wav = fs.readFileSync(target);
  fs.unlinkSync(target);
  return wav;
}

parentPort.on('message', ({ id, text, voice }) => {
  try {
    const wav = new Uint8Array(synthesize(id, text, voice));
    parentPort.postMessage({ id, wav }, [wav.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;
