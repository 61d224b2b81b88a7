import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from '../../src/observability/logger.js';
import { startGateway } from '../helpers/gateway.js';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('the process logger', () => {
  it('writes JSON lines for log shippers, with secrets redacted', () => {
    const out = sink();
    const log = createLogger({ level: 'info', format: 'json', destination: out.stream });
    log.info({ callSid: 'CA1', authToken: 'hunter2-secret' }, 'call started');
    const [line, ...rest] = out.text().trim().split('\n');
    expect(rest).toEqual([]);
    const entry = JSON.parse(line);
    expect(entry).toMatchObject({ level: 30, callSid: 'CA1', msg: 'call started' });
    expect(line).not.toContain('hunter2-secret');
  });

  it('writes one readable entry per log call for a person at a terminal, redacted the same way, without pid or hostname', () => {
    const out = sink();
    const log = createLogger({ level: 'info', format: 'pretty', destination: out.stream });
    log.info({ callSid: 'CA1', authToken: 'hunter2-secret' }, 'call started');
    log.debug('not at info');
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: call started\n/);
    expect(text).toContain('callSid: "CA1"');
    expect(text).not.toContain('hunter2-secret');
    expect(text).not.toContain('hostname');
    expect(text).not.toContain('not at info');
    expect(text).not.toContain('\u001b['); // no colour codes when the destination is not a terminal
    expect(() => JSON.parse(text)).toThrow();
  });

  it('is pretty on a terminal and JSON in a pipe when LOG_FORMAT=auto; an explicit format wins', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });
});

describe('request logging', () => {
  it('is one line per request at debug (method, path without its query, status, time), and none for probes', async () => {
    const gateway = await startGateway();
    try {
      await gateway.get('/v1/calls?token=not-in-the-log');
      await gateway.get('/healthz');
      await gateway.get('/metrics');
      await expect.poll(() => gateway.logs.filter((l) => l.msg === 'request').length).toBe(1);
      const lines = gateway.logs.filter((l) => l.msg === 'request');
      expect(lines[0]).toMatchObject({ level: 20, method: 'GET', path: '/v1/calls', statusCode: 200 });
      expect(typeof lines[0].ms).toBe('number');
      expect(JSON.stringify(gateway.logs)).not.toContain('not-in-the-log');
      expect(gateway.logs.some((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toBe(
        false,
      );
    } finally {
      await gateway.close();
    }
  });
});
