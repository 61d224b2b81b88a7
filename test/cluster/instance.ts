import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** One voxline process (src/main.ts, as `npm start` runs it), for tests of several on one database. */
export interface Instance {
  readonly port: number;
  readonly mediaUrl: string;
  /** Every JSON log line so far. */
  readonly logs: readonly Record<string, unknown>[];
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts voxline with `env` (on port 0, JSON logs, its own DATA_DIR) and waits until it listens. */
export function startInstance(env: Record<string, string>): Promise<Instance> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', resolve('src/main.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-instance-')),
      // The load governor off, as in test/helpers/gateway.ts: a busy test machine's lag must not
      // refuse a test's calls.
      OVERLOAD_MAX_LAG_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return new Promise((ready, fail) => {
    let buffered = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        const listening = /^listening at http:\/\/127\.0\.0\.1:(\d+)$/.exec(String(entry.msg));
        if (listening) {
          const port = Number(listening[1]);
          ready({
            port,
            mediaUrl: `ws://127.0.0.1:${port}/twilio/media`,
            logs,
            kill(signal) {
              child.kill(signal);
              return exited;
            },
          });
        }
      }
    });
    void exited.then((code) => fail(new Error(`voxline exited (${code}) before listening:\n${stderr}`)));
  });
}
