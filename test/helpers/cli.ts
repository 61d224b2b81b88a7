import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** tsx's loader by path (what `--import tsx` resolves to), so that a CLI runs from any folder. */
const TSX = pathToFileURL(resolve(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

export interface CliOptions {
  /** Its environment besides PATH (ours, unless this has one): nothing else of ours is passed. */
  readonly env?: Record<string, string | undefined>;
  /** Where it runs: the repository root by default. */
  readonly cwd?: string;
}

/** How a CLI ended: its exit code, and all it printed. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI still running: what it has printed so far, and its end. */
export interface RunningCli {
  readonly child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Its exit code, once it exits (its output may still be coming). */
  readonly exited: Promise<number | null>;
  /** Its exit code and all it printed, once its output is closed too. */
  readonly closed: Promise<CliResult>;
}

/**
 * Starts `script` (a path from the repository root) as npm runs it (`node --import tsx`), with
 * `args`, no input, and only the environment in `options`.
 */
export function startCli(script: string, args: readonly string[] = [], options: CliOptions = {}): RunningCli {
  const child = spawn(process.execPath, ['--import', TSX, resolve(ROOT, script), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((done) => child.on('exit', done));
  const closed = new Promise<CliResult>((done) =>
    child.on('close', (code) => done({ code, stdout, stderr })),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    closed,
  };
}

/** Runs `script` as startCli does, to its end: its exit code and all it printed. */
export function runCli(
  script: string,
  args: readonly string[] = [],
  options: CliOptions = {},
): Promise<CliResult> {
  return startCli(script, args, options).closed;
}
