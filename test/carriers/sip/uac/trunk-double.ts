import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';

/** A SIP request as the double read it (its own reading: RFC 3261 §7 start line and headers). */
export interface TrunkRequest {
  readonly method: string;
  readonly uri: string;
  /** Header values by lower-case long name, in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: string;
  readonly raw: string;
  readonly from: RemoteInfo;
}

const COMPACT: Readonly<Record<string, string>> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
};

function read(raw: string, from: RemoteInfo): TrunkRequest | undefined {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const start = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(lines[0] ?? '');
  if (!start) return undefined; // a response: only its Call-ID is kept (TrunkDouble.answered)
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const long = COMPACT[name] ?? name;
    headers.set(long, [...(headers.get(long) ?? []), line.slice(colon + 1).trim()]);
  }
  return { method: start[1], uri: start[2], headers, body: rest.join('\r\n\r\n'), raw, from };
}

/**
 * A trunk on a raw UDP socket that answers only what a test tells it to: it records every
 * request voxline sends and writes responses by hand, for the timer cases SIPp cannot hold still.
 */
export class TrunkDouble {
  readonly requests: TrunkRequest[] = [];
  /** Call-IDs of the responses voxline sent the double (to its OPTIONS, its BYEs). */
  readonly answered = new Set<string>();
  /** TCP: the connections voxline opened to the double, and the one each request came on. */
  readonly connections: TcpSocket[] = [];
  readonly #socket: Socket | undefined;
  readonly #server: Server | undefined;
  readonly #cameOn = new WeakMap<TrunkRequest, TcpSocket>();

  private constructor(socket: Socket | undefined, server: Server | undefined) {
    this.#socket = socket;
    this.#server = server;
    socket?.on('message', (data, rinfo) => this.#take(data.toString('utf8'), rinfo));
    server?.on('connection', (connection) => {
      this.connections.push(connection);
      connection.on('error', () => undefined);
      let pending = '';
      connection.on('data', (chunk) => {
        pending += chunk.toString('utf8');
        // The double's own framing (RFC 3261 §18.3): the header block, then Content-Length bytes.
        for (;;) {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const length = Number(
            /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0,
          );
          if (pending.length < end + 4 + length) return;
          const text = pending.slice(0, end + 4 + length);
          pending = pending.slice(end + 4 + length);
          const from = {
            address: '127.0.0.1',
            family: 'IPv4',
            port: connection.remotePort ?? 0,
            size: text.length,
          } as const;
          const request = this.#take(text, from);
          if (request) this.#cameOn.set(request, connection);
        }
      });
    });
  }

  #take(text: string, from: RemoteInfo): TrunkRequest | undefined {
    const request = read(text, from);
    if (request) this.requests.push(request);
    else this.answered.add(/^(?:Call-ID|i)\s*:\s*(\S+)/im.exec(text)?.[1] ?? '');
    return request;
  }

  static async open(): Promise<TrunkDouble> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new TrunkDouble(socket, undefined);
  }

  /** A trunk that takes SIP over TCP only (voxline connects to it). */
  static async openTcp(): Promise<TrunkDouble> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TrunkDouble(undefined, server);
  }

  get port(): number {
    const address = (this.#socket ?? this.#server)?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  of(method: string): TrunkRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  /** A response to `request` (Via, From, Call-ID, CSeq copied; To with `toTag` added). */
  respond(
    request: TrunkRequest,
    status: number,
    reason: string,
    options: { toTag?: string; headers?: string[]; body?: string } = {},
  ): void {
    const h = (name: string) => request.headers.get(name) ?? [];
    const to = h('to')[0] ?? '';
    const body = options.body ?? '';
    const lines = [
      `SIP/2.0 ${status} ${reason}`,
      ...h('via').map((v) => `Via: ${v}`),
      `From: ${h('from')[0]}`,
      `To: ${options.toTag && !/;tag=/.test(to) ? `${to};tag=${options.toTag}` : to}`,
      `Call-ID: ${h('call-id')[0]}`,
      `CSeq: ${h('cseq')[0]}`,
      ...(options.headers ?? []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    const connection = this.#cameOn.get(request);
    if (connection) connection.write(lines.join('\r\n'));
    else this.sendRaw(lines.join('\r\n'), request.from.port);
  }

  /** A request of the double's own (a BYE from the callee) on a TCP connection voxline opened. */
  sendOn(connection: TcpSocket, text: string): void {
    connection.write(text);
  }

  sendRaw(text: string | Buffer, port: number): void {
    this.#socket?.send(typeof text === 'string' ? Buffer.from(text) : text, port, '127.0.0.1');
  }

  close(): void {
    this.#socket?.close();
    for (const connection of this.connections) connection.destroy();
    this.#server?.close();
  }
}

/** An SDP answer from the double: PCMU on `port`. */
export function pcmuAnswer(port: number): string {
  return `v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
}
