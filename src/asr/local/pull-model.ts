/**
 * npm run model:pull — downloads (or checks) the in-process engine's model ahead of time, with a
 * progress bar, using the same settings as the service (LOCAL_MODEL, LOCAL_DTYPE, LOCAL_DEVICE,
 * HF_HOME / DATA_DIR, HF_ENDPOINT, LOCAL_MODEL_PATH). Exits 1 with the reason when it cannot.
 * Like main.ts, an entry point: it reads the environment.
 */
import { mkdir } from 'node:fs/promises';
import { loadConfig } from '../../config.js';
import { loadVoxtralOnnx } from './voxtral-onnx.js';

const BAR = 30;

async function main(): Promise<number> {
  const { local } = loadConfig(process.env).asr;
  const source = local.path
    ? `folder ${local.path}`
    : `${local.model} (${local.dtype}) from ${local.endpoint}`;
  process.stderr.write(`model: ${source}\ncache: ${local.cacheDir}\n`);
  await mkdir(local.cacheDir, { recursive: true });
  const started = performance.now();
  let lastLine = '';
  let lastFile = '';
  const loaded = await loadVoxtralOnnx({
    ...local,
    onProgress: (file, percent, loadedBytes, totalBytes) => {
      const filled = Math.round((percent / 100) * BAR);
      const line = `${file.padEnd(40).slice(0, 40)} [${'#'.repeat(filled)}${' '.repeat(BAR - filled)}] ${percent.toFixed(0).padStart(3)} % ${(loadedBytes / 1e6).toFixed(0)}/${(totalBytes / 1e6).toFixed(0)} MB`;
      if (file !== lastFile && lastFile) process.stderr.write('\n');
      if (line !== lastLine) process.stderr.write(`\r${line}`);
      lastLine = line;
      lastFile = file;
    },
  });
  if (lastLine) process.stderr.write('\n');
  await loaded.model.dispose();
  process.stderr.write(`ready: loaded in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`model:pull: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
