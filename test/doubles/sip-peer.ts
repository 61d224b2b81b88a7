import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { type Headers, parseSipMessage, type SipResponse } from '../../src/carriers/sip/sip-message.js';

/**
 * A hand-driven SIP endpoint over UDP for the cases SIPp is awkward for: malformed bytes, floods,
 * exact header checks. Writes requests as text; reads every response voxline sends back.
 */
export class SipPeer {
  readonly responses: SipResponse[] = [];
  /** Requests voxline sent to this peer (a BYE from voxline's side). */
  readonly requests: { method: string; headers: Headers }[] = [];
  readonly #socket: Socket;
  readonly #target: { host: string; port: number };

  private constructor(socket: Socket, target: { host: string; port: number }) {
    this.#socket = socket;
    this.#target = target;
    socket.on('message', (data) => {
      try {
        const message = parseSipMessage(data);
        if (message.kind === 'response') this.responses.push(message);
        else this.requests.push({ method: message.method, headers: message.headers });
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
