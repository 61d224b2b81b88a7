import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const VITEST = resolve('node_modules/vitest/vitest.mjs');

function vitest(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [VITEST, 'run', ...args], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => done({ code, output }));
  });
}

describe('a test worker that dies', { timeout: 120_000 }, () => {
  it('fails the run and is named by the file it was running', async () => {
    const { code, output } = await vitest([
      '--config',
      'test/fixtures/worker-crash/vitest.config.mjs',
      '--reporter=default',
      `--reporter=${resolve('test/helpers/unfinished-files-reporter.ts')}`,
    ]);
    expect(code).toBe(1);
    expect(output).toContain('1 test file(s) never finished');
    expect(output).toMatch(/never finished[^\n]*\n {2}killed\.case\.ts\n/);
    expect(output).not.toMatch(/ {2}survives\.case\.ts\n/);
  });
});
