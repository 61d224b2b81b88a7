import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

/*
 * An Asterisk ARI double written from Asterisk's ARI documentation ("External Media and ARI",
 * the Channels/Bridges/Events REST reference), not from voxline's code: a real HTTP server with
 * Basic auth, the events WebSocket at /ari/events?app=…, and for each externalMedia channel a
 * real UDP socket (its UNICASTRTP_LOCAL_ADDRESS/PORT) that sends RTP to external_host and keeps
 * what comes back. Its RTP packing (RFC 3550 §5.1) is its own.
 */

export interface AriRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

export interface ExternalMedia {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly format: string;
  readonly socket: Socket;
  /** RTP payloads voxline sent back, in arrival order. */
  readonly received: { readonly payloadType: number; readonly sequence: number; readonly payload: Buffer }[];
  /** What it is bridged with, through a snoop or directly (the caller's id, `in`/`out`). */
  spy?: string;
}

interface Snoop {
  readonly id: string;
  readonly of: string;
  readonly spy: string;
}

export class AriDouble {
  readonly username: string;
  readonly password: string;
  readonly app: string;
  readonly requests: AriRequest[] = [];
  readonly media = new Map<string, ExternalMedia>();
  readonly bridges = new Map<string, Set<string>>();
  readonly deleted: string[] = [];
  readonly #snoops = new Map<string, Snoop>();
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #events = new Set<WebSocket>();
  /** Requests to hold: the next REST request whose path contains the key waits for the promise. */
  readonly holdNext = new Map<string, Promise<void>>();
  /** Failures to inject: the next REST request whose path contains the key gets the status. */
  readonly failNext = new Map<string, number>();
  /** Whether the externalMedia reply carries channelvars (as documented), or only GET variable has them. */
  channelvarsInReply = true;
  port = 0;

  constructor(options: { username?: string; password?: string; app?: string } = {}) {
    this.username = options.username ?? 'voxline';
    this.password = options.password ?? 'ari-secret-0123456789';
    this.app = options.app ?? 'voxline';
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    this.#server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/ari/events' || url.searchParams.get('app') !== this.app) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      if (!this.#authorized(req, url)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        this.#events.add(ws);
        ws.on('close', () => this.#events.delete(ws));
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  get subscribers(): number {
    return this.#events.size;
  }

  /** Cuts every events socket, as an Asterisk restart would. */
  dropSubscribers(): void {
    for (const ws of this.#events) ws.terminate();
  }

  /** Sends one event (an object as ARI would, or anything, raw) to every events socket. */
  emit(event: object | string): void {
    const text = typeof event === 'string' ? event : JSON.stringify(event);
    for (const ws of this.#events) ws.send(text);
  }

  /** A caller's channel entering Stasis(app): the StasisStart event ARI documents. */
  stasisStart(id: string, number = '+14155550100'): void {
    this.emit({
      type: 'StasisStart',
      timestamp: new Date().toISOString(),
      args: [],
      channel: {
        id,
        name: `PJSIP/trunk-${id}`,
        state: 'Ring',
        caller: { name: '', number },
        connected: { name: '', number: '' },
        accountcode: '',
        dialplan: { context: 'from-trunk', exten: '100', priority: 2 },
        creationtime: new Date().toISOString(),
        language: 'en',
      },
      application: this.app,
    });
  }

  channelEvent(type: string, id: string, extra: object = {}): void {
    this.emit({
      type,
      application: this.app,
      channel: { id, name: `PJSIP/trunk-${id}`, state: 'Up' },
      ...extra,
    });
  }

  /** The externalMedia carrying `spy` (in/out), or the only one for `callerId` when mixed. */
  mediaFor(callerId: string, spy?: string): ExternalMedia | undefined {
    return [...this.media.values()].find((m) => m.spy === (spy ? `${callerId}/${spy}` : callerId));
  }

  /** Sends μ-law (or any) payloads as 20 ms RTP packets from the externalMedia's socket. */
  async sendRtp(
    m: ExternalMedia,
    payload: Uint8Array,
    options: { pt?: number; ssrc?: number; perPacket?: number } = {},
  ): Promise<void> {
    const per = options.perPacket ?? 160;
    const ssrc = options.ssrc ?? 0x1234abcd;
    let sequence = 1000;
    let timestamp = 50_000;
    for (let at = 0; at < payload.length; at += per) {
      const chunk = payload.subarray(at, at + per);
      const packet = Buffer.alloc(12 + chunk.length);
      packet[0] = 0x80;
      packet[1] = options.pt ?? 0;
      packet.writeUInt16BE(sequence & 0xffff, 2);
      packet.writeUInt32BE(timestamp >>> 0, 4);
      packet.writeUInt32BE(ssrc, 8);
      packet.set(chunk, 12);
      await this.sendRaw(m, packet);
      sequence++;
      timestamp += chunk.length / (m.format === 'slin16' ? 2 : 1);
    }
  }

  sendRaw(m: ExternalMedia, datagram: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      m.socket.send(datagram, m.port, m.host, (err) => (err ? reject(err) : resolve())),
    );
  }

  async close(): Promise<void> {
    for (const ws of this.#events) ws.terminate();
    for (const m of this.media.values()) m.socket.close();
    this.#wss.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Basic auth, or `api_key=user:pass` in the query, as ARI takes either. */
  #authorized(req: IncomingMessage, url: URL): boolean {
    const expected = `${this.username}:${this.password}`;
    if (url.searchParams.get('api_key') === expected) return true;
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return false;
    return Buffer.from(header.slice(6), 'base64').toString() === expected;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    const path = url.pathname;
    this.requests.push({ method, path, query });
    const json = (status: number, body?: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    if (!this.#authorized(req, url)) return json(401, { message: 'Authentication required' });
    for (const [key, until] of this.holdNext) {
      if (path.includes(key)) {
        this.holdNext.delete(key);
        await until;
        break;
      }
    }
    for (const [key, status] of this.failNext) {
      if (path.includes(key)) {
        this.failNext.delete(key);
        return json(status, { message: 'injected failure' });
      }
    }
    const route = (verb: string, pattern: RegExp) => (method === verb ? path.match(pattern) : null);
    if (method === 'POST' && path === '/ari/bridges') {
      const id = query.bridgeId ?? randomUUID();
      this.bridges.set(id, new Set());
      return json(200, {
        id,
        technology: 'simple_bridge',
        bridge_type: query.type ?? 'mixing',
        channels: [],
      });
    }
    const m1 = route('POST', /^\/ari\/bridges\/([^/]+)\/addChannel$/);
    if (m1) {
      const bridge = this.bridges.get(decodeURIComponent(m1[1]));
      if (!bridge) return json(404, { message: 'Bridge not found' });
      const members = (query.channel ?? '').split(',');
      for (const c of members) bridge.add(c);
      // What an externalMedia channel hears: a snoop's direction, or the caller directly.
      const other = members.find((c) => !this.media.has(c));
      for (const c of members) {
        const media = this.media.get(c);
        if (!media || !other) continue;
        const snoop = this.#snoops.get(other);
        media.spy = snoop ? `${snoop.of}/${snoop.spy}` : other;
      }
      return json(204);
    }
    if (method === 'POST' && path === '/ari/channels/externalMedia') {
      for (const required of ['app', 'external_host', 'format'])
        if (!query[required]) return json(400, { message: `${required} is required` });
      const [host, port] = splitHostPort(query.external_host);
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const id = query.channelId ?? randomUUID();
      const media: ExternalMedia = { id, host, port, format: query.format, socket, received: [] };
      socket.on('message', (data) => {
        if (data.length < 12 || data[0] >> 6 !== 2) return;
        media.received.push({
          payloadType: data[1] & 0x7f,
          sequence: data.readUInt16BE(2),
          payload: data.subarray(12),
        });
      });
      this.media.set(id, media);
      const local = socket.address();
      return json(200, {
        id,
        name: `UnicastRTP/${query.external_host}-0x1`,
        state: 'Up',
        ...(this.channelvarsInReply
          ? {
              channelvars: {
                UNICASTRTP_LOCAL_ADDRESS: local.address,
                UNICASTRTP_LOCAL_PORT: String(local.port),
              },
            }
          : {}),
      });
    }
    const m2 = route('POST', /^\/ari\/channels\/([^/]+)\/snoop$/);
    if (m2) {
      const id = query.snoopId ?? randomUUID();
      this.#snoops.set(id, { id, of: decodeURIComponent(m2[1]), spy: query.spy ?? 'none' });
      return json(200, { id, name: `Snoop/${m2[1]}-00000001`, state: 'Up' });
    }
    const m3 = route('POST', /^\/ari\/channels\/([^/]+)\/answer$/);
    if (m3) return json(204);
    const m4 = route('GET', /^\/ari\/channels\/([^/]+)\/variable$/);
    if (m4) {
      const media = this.media.get(decodeURIComponent(m4[1]));
      if (!media) return json(404, { message: 'Channel not found' });
      const address = media.socket.address();
      if (query.variable === 'UNICASTRTP_LOCAL_ADDRESS') return json(200, { value: address.address });
      if (query.variable === 'UNICASTRTP_LOCAL_PORT') return json(200, { value: String(address.port) });
      return json(404, { message: 'Provided variable was not found' });
    }
    const m5 = route('DELETE', /^\/ari\/(channels|bridges)\/([^/]+)$/);
    if (m5) {
      this.deleted.push(decodeURIComponent(m5[2]));
      return json(204);
    }
    return json(404, { message: 'Resource not found' });
  }
}

function splitHostPort(value: string): [string, number] {
  const at = value.lastIndexOf(':');
  return [value.slice(0, at).replace(/^\[|\]$/g, ''), Number(value.slice(at + 1))];
}

/** ITU-T G.711 μ-law to linear, written out here so the test does not check voxline against itself. */
export function ulawToLinear(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const u = ~bytes[i] & 0xff;
    const exponent = (u >> 4) & 0x07;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
    out[i] = u & 0x80 ? -magnitude : magnitude;
  }
  return out;
}
