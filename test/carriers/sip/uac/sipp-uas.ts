import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCENARIOS = fileURLToPath(new URL('./scenarios/', import.meta.url));

export interface SippUas {
  readonly port: number;
  /** Resolves when SIPp exits (after its one call, or its -timeout). */
  readonly done: Promise<{ readonly code: number | null; readonly output: string }>;
  stop(): void;
}

/**
 * SIPp (Debian `sip-tester`) as the trunk voxline calls: a user-agent server running one call of
 * `scenario` on loopback `port`, in its own scratch directory. It needs no readiness wait: an
 * INVITE sent before it binds is resent by voxline's Timer A.
 */
export function startSippUas(
  scenario: string,
  options: {
    readonly port: number;
    readonly mediaPort: number;
    /** Values for the scenario's {{name}} placeholders. */
    readonly vars?: Record<string, string>;
    readonly timeoutMs?: number;
  },
): SippUas {
  const cwd = mkdtempSync(join(tmpdir(), 'voxline-sipp-uas-'));
  let text = readFileSync(join(SCENARIOS, scenario), 'utf8');
  for (const [name, value] of Object.entries(options.vars ?? {}))
    text = text.replaceAll(`{{${name}}}`, value);
  const missing = /\{\{(\w+)\}\}/.exec(text);
  if (missing) throw new Error(`scenario ${scenario} needs a value for {{${missing[1]}}}`);
  writeFileSync(join(cwd, scenario), text);
  const args = [
    '-sf',
    join(cwd, scenario),
    '-i',
    '127.0.0.1',
    '-p',
    String(options.port),
    '-mi',
    '127.0.0.1',
    '-mp',
    String(options.mediaPort),
    '-m',
    '1',
    '-t',
    'u1',
    '-timeout',
    `${Math.ceil((options.timeoutMs ?? 25_000) / 1000)}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(cwd, 'errors.log'),
  ];
  const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  });
  child.stderr.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  });
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      let errors = '';
      try {
        errors = readFileSync(join(cwd, 'errors.log'), 'utf8');
      } catch {}
      resolve({ code, output: `${output.slice(-3000)}\n${errors.slice(-3000)}` });
    });
  });
  return { port: options.port, done, stop: () => child.kill('SIGTERM') };
}
