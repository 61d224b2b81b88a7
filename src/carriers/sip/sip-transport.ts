import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type Clock, systemClock, type TimerHandle } from '../../clock.js';
import { ConnectionCounter, type ConnectionLimits } from '../connection-limits.js';
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
  /** Handling threw unexpectedly: the message is refused, the transport goes on. */
  failed(error: unknown, message: SipMessage | undefined, flow: Flow): void;
  /** A connection voxline closed or would not take (`tcp_idle`, `tcp_too_many_…`). */
  refused(reason: string, flow: Flow): void;
  /** True while a dialog or transaction answers on this connection (then it is never idle). */
  inUse(connection: Socket): boolean;
  /** Whether this source may connect at all (SIP_ALLOW). */
  admits(address: string): boolean;
}

export interface TcpLimits extends ConnectionLimits {
  /** A connection that completes no message for this long, and carries no call, is closed. */
  readonly idleMs: number;
}

const MAX_TCP_MESSAGE = 64 * 1024;

/**
 * SIP over UDP and TCP on one port (RFC 3261 §18: every element does both). Each datagram and
 * each TCP chunk is a containment boundary: whatever a handler throws refuses that message only.
 */
export class SipTransport {
  #udp: UdpSocket;
  readonly #ipv6: boolean;
  readonly #tcp: Server;
  readonly #connections = new Set<Socket>();
  readonly #counter: ConnectionCounter;
  readonly #dead = new WeakSet<Socket>();
  readonly #handler: TransportHandler;
  readonly #limits: TcpLimits;
  readonly #clock: Clock;
  #closed = false;

  /** `clock`: what the TCP idle and close timers run on (the system clock unless a test drives time). */
  constructor(handler: TransportHandler, ipv6: boolean, limits: TcpLimits, clock: Clock = systemClock) {
    this.#handler = handler;
    this.#clock = clock;
    this.#limits = limits;
    this.#counter = new ConnectionCounter(limits);
    this.#ipv6 = ipv6;
    this.#udp = this.#createUdp();
    this.#tcp = createServer((socket) => this.#accept(socket));
  }

  #createUdp(): UdpSocket {
    const udp = createSocket({ type: this.#ipv6 ? 'udp6' : 'udp4', reuseAddr: false });
    udp.on('message', (data, rinfo) => {
      // Source port 0 cannot be answered (send() would throw): such a datagram is spoofed or broken.
      if (rinfo.port === 0) return;
      this.#receive(data, { transport: 'UDP', address: rinfo.address, port: rinfo.port });
    });
    udp.on('error', () => undefined); // ICMP unreachable and the like: nothing to do per packet
    return udp;
  }

  /**
   * Binds UDP and TCP to one port. With port 0 the UDP socket picks it, and TCP may find that
   * number taken (by any TCP socket on the host): then both try again on a fresh port.
   */
  async listen(port: number, bind: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      await new Promise<void>((resolve, reject) => {
        this.#udp.once('error', reject);
        this.#udp.bind(port, bind, () => {
          this.#udp.off('error', reject);
          resolve();
        });
      });
      const bound = this.#udp.address().port;
      try {
        await new Promise<void>((resolve, reject) => {
          this.#tcp.once('error', reject);
          this.#tcp.listen(bound, bind, () => {
            this.#tcp.off('error', reject);
            resolve();
          });
        });
        return bound;
      } catch (err) {
        const taken = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (port !== 0 || !taken || attempt >= 20) throw err;
        await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
        this.#udp = this.#createUdp();
      }
    }
  }

  /** Open TCP connections (for tests and metrics). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Never throws: a destination that cannot be sent to loses that message, nothing else. */
  send(message: SipMessage, flow: Flow): void {
    if (this.#closed) return; // a resend timer outliving the server: nothing to send it on
    try {
      const bytes = serialize(message);
      if (flow.transport === 'TCP') {
        if (flow.connection && !flow.connection.destroyed && flow.connection.writable)
          flow.connection.write(bytes);
        return;
      }
      this.#udp.send(bytes, flow.port, flow.address);
    } catch {
      // e.g. ERR_SOCKET_BAD_PORT: resend timers call this too, and must not end the process
    }
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
    let message: SipMessage | undefined;
    try {
      message = parseSipMessage(data);
    } catch (err) {
      if (err instanceof SipParseError) this.#contain(() => this.#handler.malformed(err, data, flow));
      else this.#contain(() => this.#handler.failed(err, undefined, flow));
      return;
    }
    const parsed = message;
    try {
      this.#handler.message(parsed, flow);
    } catch (err) {
      this.#contain(() => this.#handler.failed(err, parsed, flow));
    }
  }

  /** Runs a reporting callback; if even that throws, the message is dropped silently. */
  #contain(report: () => void): void {
    try {
      report();
    } catch {
      // The report itself failed (e.g. a 400 that cannot be built): nothing more to do for it.
    }
  }

  #accept(socket: Socket): void {
    const flow: Flow = {
      transport: 'TCP',
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      connection: socket,
    };
    socket.on('error', () => undefined);
    const refusal = this.#handler.admits(flow.address)
      ? this.#counter.take(flow.address)
      : 'source_not_allowed';
    if (refusal) {
      this.#contain(() => this.#handler.refused(refusal, flow));
      socket.destroy();
      return;
    }
    this.#adopt(socket, flow);
    socket.on('close', () => this.#counter.release(flow.address));
  }

  /**
   * Opens a TCP connection to a peer (outbound SIP to a trunk over TCP). Once connected it is read
   * and framed as an accepted one is, and closed when idle and unused; it is not counted against
   * the per-source limits, which are for connections peers open. Rejects if it cannot connect
   * within `timeoutMs`.
   */
  connect(address: string, port: number, timeoutMs: number): Promise<Flow> {
    if (this.#closed) return Promise.reject(new Error('the SIP transport is closed'));
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address, port });
      const timer = this.#clock.setTimeout(() => {
        socket.destroy();
        reject(new Error(`no TCP connection to ${address}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      socket.once('error', (err) => {
        this.#clock.clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        this.#clock.clearTimeout(timer);
        if (this.#closed) {
          socket.destroy();
          reject(new Error('the SIP transport is closed'));
          return;
        }
        const flow: Flow = { transport: 'TCP', address, port, connection: socket };
        this.#adopt(socket, flow);
        resolve(flow);
      });
    });
  }

  /** Reads SIP messages off a connection (accepted or opened), closing it when idle and unused. */
  #adopt(socket: Socket, flow: Flow): void {
    socket.on('error', () => undefined);
    this.#connections.add(socket);
    let idle: TimerHandle | undefined;
    const armIdle = () => {
      this.#clock.clearTimeout(idle);
      idle = this.#clock.setTimeout(() => {
        if (this.#handler.inUse(socket)) return armIdle();
        this.#contain(() => this.#handler.refused('tcp_idle', flow));
        socket.destroy();
      }, this.#limits.idleMs);
      idle.unref();
    };
    armIdle();
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      // After a framing error the stream cannot be trusted: nothing more is read from it.
      if (this.#dead.has(socket)) return;
      try {
        pending = this.#frame(
          pending.length === 0 ? chunk : Buffer.concat([pending, chunk]),
          socket,
          flow,
          armIdle,
        );
      } catch (err) {
        // The framing state is unknown after an unexpected throw: report it and drop the connection.
        this.#contain(() => this.#handler.failed(err, undefined, flow));
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.#clock.clearTimeout(idle);
      this.#connections.delete(socket);
    });
  }

  /** Cuts whole messages off the stream by Content-Length (§18.3); returns what is left over. */
  #frame(data: Buffer, socket: Socket, flow: Flow, onMessage: () => void): Buffer {
    let pending = data;
    for (;;) {
      while (pending.length >= 2 && (pending[0] === 0x0d || pending[0] === 0x0a))
        pending = pending.subarray(1);
      const end = headerEnd(pending);
      if (end < 0) {
        if (pending.length <= MAX_TCP_MESSAGE) return pending;
        this.#fatal(socket, pending, flow, 'header block too long');
        return Buffer.alloc(0);
      }
      const m = /\r?\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(
        pending.subarray(0, end).toString('latin1'),
      );
      if (!m) {
        // Over a stream the length is the only way to find the next message (§18.3).
        this.#fatal(socket, pending.subarray(0, end), flow, 'no Content-Length on a stream transport');
        return Buffer.alloc(0);
      }
      const total = end + Number(m[1]);
      if (total > MAX_TCP_MESSAGE) {
        this.#fatal(socket, pending.subarray(0, end), flow, `message of ${total} bytes`);
        return Buffer.alloc(0);
      }
      if (pending.length < total) return pending;
      const message = pending.subarray(0, total);
      pending = pending.subarray(total);
      onMessage();
      this.#receive(Buffer.from(message), flow);
      if (socket.destroyed) return Buffer.alloc(0);
    }
  }

  /**
   * The stream can no longer be framed: report it (a 400 if possible), then close the connection
   * for good once the answer is out. A half-close alone once let a peer keep streaming into a
   * buffer rescanned on every chunk.
   */
  #fatal(socket: Socket, raw: Buffer, flow: Flow, why: string): void {
    this.#dead.add(socket);
    this.#contain(() => this.#handler.malformed(new SipParseError(why), raw, flow));
    socket.end(() => socket.destroy());
    this.#clock.setTimeout(() => socket.destroy(), 1000).unref(); // a peer that never reads the answer
  }
}
