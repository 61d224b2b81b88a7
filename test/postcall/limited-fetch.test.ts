import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitedFetch } from '../../src/postcall/limited-fetch.js';
import { listenLoopback } from '../doubles/loopback-server.js';

/* A server that streams without end cannot fill memory through a client that reads answers whole. */

const server = createServer((request, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  if (request.url === '/small') {
    res.end('{"ok":true}');
    return;
  }
  const block = Buffer.alloc(64 * 1024, 0x20);
  const pump = () => {
    while (res.write(block)) {}
    res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
});
let base = '';
beforeAll(async () => {
  base = await listenLoopback(server);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('a size-limited fetch', () => {
  it('passes an answer under the limit through unchanged', async () => {
    const response = await limitedFetch(fetch, 1024)(`${base}/small`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('errors an endless answer once it passes the limit', async () => {
    const response = await limitedFetch(fetch, 1024 * 1024)(`${base}/endless`);
    await expect(response.text()).rejects.toMatchObject({ code: 'VL_ERR_BATCH_ENGINE' });
  });
});
