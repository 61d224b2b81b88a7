import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { LOG_REDACTION } from '../../src/observability/log-redaction.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';

const ADMIN_TOKEN = 'admin-token-0123456789';
const BODY_LIMIT = 256 * 1024;

describe('client errors', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ ADMIN_TOKEN });
  });
  afterAll(() => gateway.close());

  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  async function post(path: string, headers: Record<string, string>, body: string) {
    const response = await fetch(`${gateway.baseUrl}${path}`, { method: 'POST', headers, body });
    return {
      status: response.status,
      body: (await response.json()) as { error: { code: string; message: string } },
    };
  }

  /** Error-level (50) lines logged while `run` ran. */
  async function errorLinesDuring(run: () => Promise<void>) {
    const before = gateway.logs.length;
    await run();
    return gateway.logs.slice(before).filter((line) => Number(line.level) >= 50);
  }

  it('answers bad JSON with 400 VL_ERR_BAD_REQUEST, not a 500, and logs no error', async () => {
    const errors = await errorLinesDuring(async () => {
      for (const [path, headers] of [
        ['/v1/webhooks/deliveries/1/retry', auth],
        ['/twilio/status', {}], // unauthenticated: the body is parsed before the signature check
      ] as const) {
        const response = await post(path, { ...headers, 'content-type': 'application/json' }, '{"id": ');
        expect(response, path).toEqual({
          status: 400,
          body: { error: { code: 'VL_ERR_BAD_REQUEST', message: 'bad request: the body is not valid JSON' } },
        });
      }
    });
    expect(errors).toEqual([]);
  });

  it(`answers a body over ${BODY_LIMIT} bytes with 413`, async () => {
    const errors = await errorLinesDuring(async () => {
      const body = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT) });
      const response = await post(
        '/v1/webhooks/deliveries/1/retry',
        { ...auth, 'content-type': 'application/json' },
        body,
      );
      expect(response).toEqual({
        status: 413,
        body: {
          error: {
            code: 'VL_ERR_BAD_REQUEST',
            message: `bad request: the body is over the ${BODY_LIMIT}-byte limit`,
          },
        },
      });
    });
    expect(errors).toEqual([]);
  });

  it('answers an unsupported content type with 415', async () => {
    const errors = await errorLinesDuring(async () => {
      for (const [path, headers] of [
        ['/v1/webhooks/deliveries/1/retry', auth],
        ['/twilio/voice', {}],
      ] as const) {
        const response = await post(path, { ...headers, 'content-type': 'application/xml' }, '<Call/>');
        expect(response, path).toEqual({
          status: 415,
          body: { error: { code: 'VL_ERR_BAD_REQUEST', message: 'bad request: unsupported Content-Type' } },
        });
      }
    });
    expect(errors).toEqual([]);
  });

  it('logs a flood of bad requests at most at debug, without stacks', async () => {
    const before = gateway.logs.length;
    for (let i = 0; i < 20; i++) {
      expect((await post('/twilio/status', { 'content-type': 'application/json' }, '{')).status).toBe(400);
    }
    const lines = gateway.logs.slice(before);
    expect(lines.filter((line) => Number(line.level) > 30)).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain('"stack"');
    // Fastify's own request lines, plus one debug line each: nothing that grows with the body.
    const refused = lines.filter((line) => line.msg === 'request refused');
    expect(refused).toHaveLength(20);
    expect(refused[0]).toMatchObject({ level: 20, code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 });
  });
});

describe('server errors', () => {
  it('stay 500 VL_ERR_INTERNAL, logged at error level with the stack', async () => {
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({
      HOST: '127.0.0.1',
      ASR_ENGINE: 'none',
      TWILIO_VALIDATE: 'false',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'voxline-test-')),
    });
    const app = await buildApp(config, { logger: pino({ level: 'info', redact: LOG_REDACTION }, sink) });
    app.server.get('/boom', async () => {
      throw new Error('database on fire');
    });
    await app.server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.addresses()[0] as { port: number };
      const response = await fetch(`http://127.0.0.1:${port}/boom`);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({
        error: { code: 'VL_ERR_INTERNAL', message: 'internal error' },
      });
      const failed = logs.filter((line) => line.msg === 'request failed');
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ level: 50, err: { message: 'database on fire' } });
      expect((failed[0]?.err as { stack?: string }).stack).toContain('database on fire');
    } finally {
      await app.server.close();
    }
  });
});
