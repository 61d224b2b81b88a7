import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian `sip-tester`'s RFC 4733 pcaps (`dtmf_2833_1.pcap` presses 1). */
export const SIPP_PCAPS = '/usr/share/sip-tester';
export const SCENARIOS = fileURLToPath(new URL('../carriers/sip/scenarios/', import.meta.url));

export interface SippRun {
  readonly code: number | null;
  readonly output: string;
}

/**
 * Runs SIPp (Debian package `sip-tester`, installed by .ci/run) against voxline as the far end:
 * one call of `scenario`, on loopback, in its own scratch directory (SIPp writes its logs there).
 */
export function runSipp(
  scenario: string,
  port: number,
  options: {
    readonly transport?: 'u1' | 't1';
    /** Values for the scenario's {{name}} placeholders. */
    readonly vars?: Record<string, string>;
    readonly pauseMs?: number;
    readonly localPort: number;
    readonly mediaPort: number;
    readonly service?: string;
    readonly timeoutMs?: number;
  },
): Promise<SippRun> {
  const cwd = mkdtempSync(join(tmpdir(), 'voxline-sipp-'));
  let text = readFileSync(join(SCENARIOS, scenario), 'utf8');
  for (const [name, value] of Object.entries(options.vars ?? {}))
    text = text.replaceAll(`{{${name}}}`, value);
  const missing = /\{\{(\w+)\}\}/.exec(text);
  if (missing) throw new Error(`scenario ${scenario} needs a value for {{${missing[1]}}}`);
  writeFileSync(join(cwd, scenario), text);
  const args = [
    `127.0.0.1:${port}`,
    '-sf',
    join(cwd, scenario),
    '-s',
    options.service ?? 'voxline',
    '-i',
    '127.0.0.1',
    '-p',
    String(options.localPort),
    '-mi',
    '127.0.0.1',
    '-mp',
    String(options.mediaPort),
    '-m',
    '1',
    '-t',
    options.transport ?? 'u1',
    '-d',
    String(options.pauseMs ?? 1000),
    '-timeout',
    `${Math.ceil((options.timeoutMs ?? 30_000) / 1000)}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file',
    join(cwd, 'errors.log'),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: output.slice(-4000) }));
  });
}

/** Writes bytes to a scratch file (SIPp's rtp_stream reads raw G.711 from a path). */
export function scratchFile(name: string, bytes: Uint8Array): string {
  const path = join(mkdtempSync(join(tmpdir(), 'voxline-media-')), name);
  writeFileSync(path, bytes);
  return path;
}
