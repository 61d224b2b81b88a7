/**
 * The flite process, as source text: it runs as `node -e`, which works the same from TypeScript
 * sources (tests, tsx) and from the compiled dist/ (no file to locate or build). The first message
 * names the WASI binary and the engine's temporary folder; it compiles flite once, then for each
 * job runs flite with the text, writing a WAV into that folder, and sends the samples back.
 */
export const FLITE_WORKER_SOURCE = `
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const path = require('node:path');

let dir;
let module;

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

process.on('message', (message) => {
  if (message.init) {
    dir = message.init.dir;
    module = new WebAssembly.Module(fs.readFileSync(message.init.wasmPath));
    return;
  }
  const { id, text, voice } = message;
  try {
    process.send({ id, wav: new Uint8Array(synthesize(id, text, voice)) });
  } catch (err) {
    process.send({ id, error: String((err && err.message) || err) });
  }
});
// voxline gone: so is this process.
process.on('disconnect', () => process.exit(0));
`;
