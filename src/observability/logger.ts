import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { LOG_REDACTION } from './log-redaction.js';

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  /** Where lines go (stdout by default); pretty output is colourised only on a terminal. */
  readonly destination?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * The process logger: JSON lines for log shippers, or pino-pretty's one readable line per entry
 * for a person at a terminal. Both redact the same paths (LOG_REDACTION).
 */
export function createLogger(options: LoggerOptions): FastifyBaseLogger {
  const destination = options.destination ?? process.stdout;
  const base = { level: options.level, redact: LOG_REDACTION };
  if (options.format === 'json') {
    return pino(base, destination) as FastifyBaseLogger;
  }
  const stream = pretty({
    destination,
    colorize: destination.isTTY === true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return pino(base, stream) as FastifyBaseLogger;
}

/** `auto`: pretty when stdout is a terminal, JSON when it is a pipe or a file (containers). */
export function resolveLogFormat(setting: 'auto' | LogFormat, stdoutIsTty: boolean): LogFormat {
  if (setting !== 'auto') return setting;
  return stdoutIsTty ? 'pretty' : 'json';
}
