import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `npm run model:pull` as npm does (tsx src/asr/local/pull-model.ts). */
function pull(env: Record<string, string>) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/asr/local/pull-model.ts'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-pull-')), ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('npm run model:pull', () => {
  it('loads a model folder and says it is ready', async () => {
    const { code, stderr } = await pull({
      LOCAL_MODEL_PATH: 'test/fixtures/tiny-voxtral',
      LOCAL_DTYPE: 'fp32',
    });
    expect(code).toBe(0);
    expect(stderr).toContain('onnx/decoder_model_merged.onnx');
    expect(stderr).toMatch(/ready: loaded in \d/);
  }, 30_000);

  it('fails with the reason, not a hang, when the hub cannot be reached', async () => {
    const { code, stderr } = await pull({ HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(code).toBe(1);
    expect(stderr).toContain(
      'model:pull: the local speech model could not be loaded (not downloaded, no network, or a wrong path): onnx-community/Voxtral-Mini-4B-Realtime-2602-ONNX from http://127.0.0.1:9',
    );
  }, 30_000);
});
