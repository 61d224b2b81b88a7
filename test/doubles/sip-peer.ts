import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

/** Header names voxline may send in compact form (RFC 3261 §7.3.3), as the peer reads them. */
const COMPACT: Readonly<Record<string, string>> = {
  v: 'via',
  f: 'from',
  t: 'to',
  i: 'call-id',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
  k: 'supported',
};

/** Reading a message's headers (the peer's own PeerHeaders, or any parser's with the same two calls). */
export interface SipHeadersView {
  get(name: string): string | undefined;
  all(name: string): string[];
}

/** The headers of a message the peer received: its own reading, not voxline's parser. */
export class PeerHeaders implements SipHeadersView {
  readonly #lines: (readonly [string, string])[];

  constructor(lines: (readonly [string, string])[]) {
    this.#lines = lines;
  }

  /** The first value of `name` (case-insensitive), as it came. */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.#lines.find(([n]) => n === lower)?.[1];
  }

  /** Every value of `name`, comma-separated lists split (outside <> and quotes). */
  all(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#lines.filter(([n]) => n === lower).flatMap(([, v]) => splitCommas(v));
  }
}

/** A response as the peer read it. */
export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: SipHeadersView;
  readonly body: Buffer;
}

/** A request voxline sent the peer (a BYE from voxline's side). */
export interface PeerRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: PeerHeaders;
  readonly body: Buffer;
}

/**
 * Reads one SIP message from a datagram, the peer's own way: a start line, `Name: value` header
 * lines (folded lines joined, compact names expanded) up to the empty line, then Content-Length
 * bytes of body. Throws on anything else (voxline never sends it).
 */
export function readSipMessage(data: Buffer): SipResponse | PeerRequest {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no end of headers');
  const lines = data.subarray(0, end).toString('utf8').split('\r\n');
  const start = lines.shift() ?? '';
  const unfolded: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && unfolded.length > 0) unfolded[unfolded.length - 1] += ` ${line.trim()}`;
    else unfolded.push(line);
  }
  const entries = unfolded.map((line): readonly [string, string] => {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    return [COMPACT[name] ?? name, line.slice(colon + 1).trim()];
  });
  const headers = new PeerHeaders(entries);
  const length = Number(headers.get('content-length') ?? '0');
  const body = Buffer.from(data.subarray(end + 4, end + 4 + length));
  if (body.length !== length) throw new Error('body shorter than Content-Length');
  const status = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(start);
  if (status) return { kind: 'response', status: Number(status[1]), reason: status[2], headers, body };
  const request = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(start);
  if (!request) throw new Error(`bad start line ${JSON.stringify(start)}`);
  return { kind: 'request', method: request[1], uri: request[2], headers, body };
}

/** A header's comma-separated values; commas inside quotes or <…> do not split (its own rule, by regex). */
function splitCommas(value: string): string[] {
  const parts = value.match(/(?:"(?:[^"\\]|\\.)*"|<[^>]*>|[^,"<])+/g) ?? [];
  return parts.map((part) => part.trim()).filter((part) => part.length > 0);
}

/**
 * A hand-driven SIP endpoint over UDP for the cases SIPp is awkward for: malformed bytes, floods,
 * exact header checks. Writes requests as text; reads every response voxline sends back.
 */
export class SipPeer {
  readonly responses: SipResponse[] = [];
  /** Requests voxline sent to this peer (a BYE from voxline's side). */
  readonly requests: { method: string; uri: string; headers: PeerHeaders }[] = [];
  readonly #socket: Socket;
  readonly #target: { host: string; port: number };

  private constructor(socket: Socket, target: { host: string; port: number }) {
    this.#socket = socket;
    this.#target = target;
    socket.on('message', (data) => {
      try {
        const message = readSipMessage(data);
        if (message.kind === 'response') this.responses.push(message);
        else this.requests.push({ method: message.method, uri: message.uri, headers: message.headers });
      } catch {
        // voxline never sends malformed messages; a test would notice the missing response
      }
    });
  }

  static async open(port: number, bind = '127.0.0.1'): Promise<SipPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, bind, resolve));
    return new SipPeer(socket, { host: '127.0.0.1', port });
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get address(): string {
    return this.#socket.address().address;
  }

  send(text: string | Buffer): void {
    const bytes = typeof text === 'string' ? Buffer.from(text.replace(/\r?\n/g, '\r\n')) : text;
    this.#socket.send(bytes, this.#target.port, this.#target.host);
  }

  /** Waits for a response to `callId` with `status` (any final one when omitted). */
  async response(callId: string, status?: number, timeoutMs = 3000): Promise<SipResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.responses.find(
        (r) =>
          r.headers.get('call-id') === callId &&
          (status === undefined ? r.status >= 200 : r.status === status),
      );
      if (found) return found;
      if (Date.now() > deadline) {
        const seen = this.responses.filter((r) => r.headers.get('call-id') === callId).map((r) => r.status);
        throw new Error(`no ${status ?? 'final'} response for ${callId} (saw ${seen.join(', ') || 'none'})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * An OPTIONS round trip: once its answer is in, voxline has handled everything this peer sent
   * before it, and whatever voxline sent before answering has arrived (one UDP path, in order).
   */
  async roundTrip(): Promise<void> {
    const callId = newCallId();
    this.send(
      `OPTIONS sip:voxline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${this.address}:${this.port};branch=z9hG4bK${randomBytes(6).toString('hex')}\r\nFrom: <sip:peer@${this.address}>;tag=${randomBytes(4).toString('hex')}\r\nTo: <sip:voxline@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    );
    await this.response(callId, 200);
  }

  responsesTo(callId: string): SipResponse[] {
    return this.responses.filter((r) => r.headers.get('call-id') === callId);
  }

  close(): void {
    this.#socket.close();
  }
}

export function newCallId(): string {
  return `${randomBytes(8).toString('hex')}@test.example`;
}

export interface InviteOptions {
  readonly callId: string;
  readonly peer: SipPeer;
  readonly user?: string;
  readonly formats?: string;
  readonly rtpMaps?: string[];
  readonly mediaPort?: number;
  readonly branch?: string;
  readonly extraHeaders?: string[];
  readonly cseq?: number;
}

/** An INVITE with an SDP offer (PCMU and telephone-event unless told otherwise). */
export function invite(o: InviteOptions): string {
  const sdp = [
    'v=0',
    `o=peer 1 1 IN IP4 ${o.peer.address}`,
    's=-',
    `c=IN IP4 ${o.peer.address}`,
    't=0 0',
    `m=audio ${o.mediaPort ?? 49170} RTP/AVP ${o.formats ?? '0 101'}`,
    ...(o.rtpMaps ?? ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000']),
    '',
  ].join('\r\n');
  return [
    `INVITE sip:${o.user ?? 'voxline'}@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP ${o.peer.address}:${o.peer.port};branch=${o.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`};rport`,
    `From: <sip:+15550001111@${o.peer.address}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:${o.user ?? 'voxline'}@127.0.0.1>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} INVITE`,
    `Contact: <sip:peer@${o.peer.address}:${o.peer.port}>`,
    'Max-Forwards: 70',
    ...(o.extraHeaders ?? []),
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n');
}

/** An in-dialog request (ACK, BYE) built from the INVITE's 2xx (or error) response. */
export function inDialog(method: string, response: SipResponse, peer: SipPeer, cseq: number): string {
  const h = response.headers;
  const via = h.get('via') as string;
  const branch =
    method === 'ACK' && response.status >= 300
      ? via
      : via.replace(/branch=[^;]+/, `branch=z9hG4bK${randomBytes(6).toString('hex')}`);
  return [
    `${method} sip:voxline@127.0.0.1 SIP/2.0`,
    `Via: ${branch.replace(/;received=[^;]+|;rport=\d+/g, '')}`,
    `From: ${h.get('from')}`,
    `To: ${h.get('to')}`,
    `Call-ID: ${h.get('call-id')}`,
    `CSeq: ${cseq} ${method}`,
    'Max-Forwards: 70',
    `Contact: <sip:peer@${peer.address}:${peer.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
