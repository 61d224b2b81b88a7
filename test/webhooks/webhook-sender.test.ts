import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { WebhookSender } from '../../src/webhooks/webhook-sender.js';
import { ManualClock } from '../helpers/manual-clock.js';

/* The webhook sender against a real HTTP server: what it sends, what it makes of each answer. */

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function endpoint(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString(), res));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, sockets };
}

function sender(url: string, clock = systemClock, timeoutMs = 5_000) {
  const s = new WebhookSender(url, 4, clock, timeoutMs);
  cleanups.push(() => s.close());
  return s;
}

describe('WebhookSender', () => {
  it('POSTs the body with its headers and a content length, and reuses the connection', async () => {
    const seen: { method?: string; path?: string; length?: string; id?: string; body: string }[] = [];
    const { url, sockets } = await endpoint((req, body, res) => {
      seen.push({
        method: req.method,
        path: req.url,
        length: req.headers['content-length'],
        id: String(req.headers['webhook-id']),
        body,
      });
      res.writeHead(204).end();
    });
    const s = sender(url);
    const body = JSON.stringify({ text: 'héllo' }); // not ASCII: the length is in bytes
    expect(await s.post({ 'webhook-id': 'msg_1', 'content-type': 'application/json' }, body)).toEqual({
      status: 204,
      retryAfter: undefined,
    });
    await s.post({ 'webhook-id': 'msg_2' }, body);
    expect(seen).toEqual([
      { method: 'POST', path: '/hooks', length: String(Buffer.byteLength(body)), id: 'msg_1', body },
      { method: 'POST', path: '/hooks', length: String(Buffer.byteLength(body)), id: 'msg_2', body },
    ]);
    expect(sockets.size).toBe(1); // kept alive
  });

  it('hands back the status and Retry-After, and does not follow a redirect', async () => {
    const answers = [
      (res: ServerResponse) => res.writeHead(503, { 'retry-after': '7' }).end('busy'),
      (res: ServerResponse) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end(),
      (res: ServerResponse) => res.writeHead(410).end(),
    ];
    let n = 0;
    const { url } = await endpoint((_req, _body, res) => answers[n++](res));
    const s = sender(url);
    expect(await s.post({}, '{}')).toEqual({ status: 503, retryAfter: '7' });
    expect(await s.post({}, '{}')).toEqual({ status: 302, retryAfter: undefined });
    expect(await s.post({}, '{}')).toEqual({ status: 410, retryAfter: undefined });
    expect(n).toBe(3);
  });

  it('drops a connection whose answer body goes on and on, and the next request gets a new one', async () => {
    let requests = 0;
    const { url } = await endpoint((_req, _body, res) => {
      if (++requests === 1) {
        res.writeHead(200);
        const chunk = Buffer.alloc(16 * 1024, 0x61);
        const more = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', more);
        };
        more();
        return;
      }
      res.writeHead(204).end();
    });
    const s = sender(url);
    expect((await s.post({}, '{}')).status).toBe(200);
    expect((await s.post({}, '{}')).status).toBe(204);
  });

  it('drops a connection whose answer body never ends, at the deadline on the clock', async () => {
    const clock = new ManualClock();
    let closed: () => void = () => undefined;
    const socketClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const { url } = await endpoint((req, _body, res) => {
      req.socket.once('close', () => closed());
      res.writeHead(200);
      res.write('still going'); // and never ends
    });
    expect((await sender(url, clock, 2_000).post({}, '{}')).status).toBe(200);
    await clock.advance(2_000);
    await socketClosed;
  });

  it('rejects with the reason when nobody listens, and with "no answer" at its deadline on the clock', async () => {
    const { url: closed } = await endpoint(() => undefined);
    await cleanups.pop()?.(); // the port is free again: refused
    await expect(sender(closed).post({}, '{}')).rejects.toThrow(/ECONNREFUSED/);

    const clock = new ManualClock();
    let reached: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const { url } = await endpoint(() => reached()); // takes the request, never answers
    const pending = sender(url, clock, 2_000).post({}, '{}');
    let settled = false;
    void pending.catch(() => {
      settled = true;
    });
    await arrived;
    await clock.advance(1_999);
    expect(settled).toBe(false);
    await clock.advance(1);
    await expect(pending).rejects.toThrow('no answer within 2000 ms');
  });
});
