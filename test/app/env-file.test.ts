import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = resolve('src/main.ts');
// tsx as `--import tsx` would load it, by path: the child runs in a directory with no node_modules.
const TSX = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;

/** Starts `src/main.ts` in `cwd` and waits for it to exit (each case here makes it refuse to start). */
function run(
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => done({ code, stderr }));
  });
}

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'voxline-env-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

// Each case starts a Node process with tsx: seconds on a loaded 2-core machine, so not the 5 s default.
describe('.env file', { timeout: 60_000 }, () => {
  it('is read from the working directory: a bad value in it is reported under its variable', async () => {
    const { code, stderr } = await run(dirWith({ '.env': 'PORT=eighty\nLOG_LEVEL=loud\n' }));
    expect(code).toBe(1);
    expect(stderr).toContain('PORT: expected an integer from 0 to 65535 (got "eighty")');
    expect(stderr).toContain('LOG_LEVEL: expected one of');
  });

  it('loses to the environment: a variable already set wins over the file', async () => {
    const { stderr } = await run(dirWith({ '.env': 'PORT=eighty\nLOG_LEVEL=loud\n' }), { PORT: 'ninety' });
    expect(stderr).toContain('(got "ninety")');
    expect(stderr).not.toContain('eighty');
  });

  it('ENV_FILE names another file; one that does not exist stops the start with a clear line', async () => {
    const dir = dirWith({ 'staging.env': 'LOG_LEVEL=loud\n' });
    expect((await run(dir, { ENV_FILE: 'staging.env' })).stderr).toContain('LOG_LEVEL: expected one of');
    expect(await run(dir, { ENV_FILE: 'missing.env' })).toEqual({
      code: 1,
      stderr: 'voxline: ENV_FILE missing.env does not exist\n',
    });
  });
});
