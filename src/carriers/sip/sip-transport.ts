import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { headerEnd, parseSipMessage, type SipMessage, SipParseError, serialize } from './sip-message.js';

/** Where a message came from, and how to answer on the same path (RFC 3261 §18.2.2). */
export interface Flow {
  readonly transport: 'UDP' | 'TCP';
  readonly address: string;
  readonly port: number;
  /** TCP: the connection it came on (responses and in-dialog requests go back on it). */
  readonly connection?: Socket;
}

export interface TransportHandler {
  message(message: SipMessage, flow: Flow): void;
  /** Bytes that are not a SIP message; `raw` is what arrived, for a best-effort 400. */
  malformed(error: SipParseError, raw: Buffer, flow: Flow): void;
}

const MAX_TCP_MESSAGE = 64 * 1024;

/** SIP over UDP and TCP on one port (RFC 3261 §18: every element does both). */
export class SipTransport {
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #connections = new Set<Socket>();
  readonly #handler: TransportHandler;
  #closed = false;

  constructor(handler: TransportHandler, ipv6: boolean) {
    this.#handler = handler;
    this.#udp = createSocket({ type: ipv6 ? 'udp6' : 'udp4', reuseAddr: false });
    this.#udp.on('message', (data, rinfo) => {
      this.#receive(data, { transport: 'UDP', address: rinfo.address, port: rinfo.port });
    });
    this.#udp.on('error', () => undefined); // ICMP unreachable and the like: nothing to do per packet
    this.#tcp = createServer((socket) => this.#accept(socket));
  }

  async listen(port: number, bind: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#udp.once('error', reject);
      this.#udp.bind(port, bind, () => {
        this.#udp.off('error', reject);
        resolve();
      });
    });
    const bound = this.#udp.address().port;
    await new Promise<void>((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen(bound, bind, () => {
        this.#tcp.off('error', reject);
        resolve();
      });
    });
    return bound;
  }

  send(message: SipMessage, flow: Flow): void {
    if (this.#closed) return; // a resend timer outliving the server: nothing to send it on
    const bytes = serialize(message);
    if (flow.transport === 'TCP') {
      if (flow.connection && !flow.connection.destroyed) flow.connection.write(bytes);
      return;
    }
    this.#udp.send(bytes, flow.port, flow.address);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const socket of this.#connections) socket.destroy();
    await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
  }

  #receive(data: Buffer, flow: Flow): void {
    // Keep-alives (RFC 5626: CRLF over UDP, CRLFCRLF over TCP) are not messages.
    if (data.length <= 4 && data.toString('latin1').trim() === '') return;
    let message: SipMessage;
    try {
      message = parseSipMessage(data);
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      this.#handler.malformed(err, data, flow);
      return;
    }
    this.#handler.message(message, flow);
  }

  #accept(socket: Socket): void {
    this.#connections.add(socket);
    const flow: Flow = {
      transport: 'TCP',
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      connection: socket,
    };
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        while (pending.length >= 2 && (pending[0] === 0x0d || pending[0] === 0x0a))
          pending = pending.subarray(1);
        const end = headerEnd(pending);
        if (end < 0) {
          if (pending.length > MAX_TCP_MESSAGE) this.#fatal(socket, pending, flow, 'header block too long');
          return;
        }
        const m = /\r?\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(
          pending.subarray(0, end).toString('latin1'),
        );
        if (!m) {
          // Over a stream the length is the only way to find the next message (§18.3).
          this.#fatal(socket, pending.subarray(0, end), flow, 'no Content-Length on a stream transport');
          return;
        }
        const total = end + Number(m[1]);
        if (total > MAX_TCP_MESSAGE) {
          this.#fatal(socket, pending.subarray(0, end), flow, `message of ${total} bytes`);
          return;
        }
        if (pending.length < total) return;
        const message = pending.subarray(0, total);
        pending = pending.subarray(total);
        this.#receive(Buffer.from(message), flow);
        if (socket.destroyed) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#connections.delete(socket));
  }

  /** The stream can no longer be framed: report it (a 400 if possible), then close the connection. */
  #fatal(socket: Socket, raw: Buffer, flow: Flow, why: string): void {
    this.#handler.malformed(new SipParseError(why), raw, flow);
    socket.end();
  }
}
