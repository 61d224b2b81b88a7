import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';

describe('a first start with nothing configured (a machine that cannot get the model)', () => {
  it('shows one block saying what runs and what to do next, then one error line naming the reason, no stack trace', async () => {
    const voxline = startCli('src/main.ts', [], {
      cwd: mkdtempSync(join(tmpdir(), 'voxline-first-')),
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_FORMAT: 'pretty',
        // Stands for "no network": the download cannot happen, as on a machine offline.
        LOCAL_MODEL_PATH: '/nonexistent/voxtral',
      },
    });
    try {
      await expect.poll(() => voxline.stdout.includes('could not be loaded'), { timeout: 30_000 }).toBe(true);
      await expect
        .poll(() => voxline.stderr.includes('every setting: docs/configuration.md'), { timeout: 5_000 })
        .toBe(true);
    } finally {
      voxline.child.kill('SIGINT');
    }
    expect(await voxline.exited).toBe(0);
    const { stdout, stderr } = voxline;
    expect(stderr).toMatch(/voxline is listening on http:\/\/127\.0\.0\.1:\d{2,5}\n/);
    expect(stderr).toContain('in-process Voxtral Realtime from /nonexistent/voxtral');
    expect(stderr).toContain('TWILIO_AUTH_TOKEN=dev-token npm run simulate');
    expect(stdout).not.toContain('"level"'); // readable lines, not JSON
    expect(stdout).not.toMatch(/^\s+at /m);
    const errors = stdout.split('\n').filter((line) => line.includes('ERROR'));
    expect(errors).toEqual([expect.stringContaining('the speech model could not be loaded')]);
    expect(stdout).toContain('LOCAL_MODEL_PATH to the folder');
  }, 60_000);
});
