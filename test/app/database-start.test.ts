import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/main.ts')], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-db-')), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => done({ code, stderr }));
  });
}

describe('DATABASE_URL', { timeout: 60_000 }, () => {
  it('that is not a postgres URL is a config error that does not echo the value (it may hold a password)', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/voxline' })).toThrow(
      /DATABASE_URL: expected a postgres:\/\/ or postgresql:\/\/ URL/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/voxline' })).not.toThrow(/hunter2/);
  });

  it('whose server cannot be reached stops the start with one line naming the reason', async () => {
    // A socket directory with no server in it: refused at once, no network needed.
    const dir = mkdtempSync(join(tmpdir(), 'voxline-nodb-'));
    const { code, stderr } = await start({
      ASR_ENGINE: 'none',
      WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
      WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
      DATABASE_URL: `postgres://voxline:hunter2@/voxline?host=${encodeURIComponent(dir)}`,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^voxline: the database cannot be used: cannot open the (call records|outbox) in PostgreSQL: .*ENOENT/m,
    );
    expect(stderr).not.toContain('hunter2');
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
