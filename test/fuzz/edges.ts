import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import fc from 'fast-check';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { buildRtp, parseRtp } from '../../src/carriers/sip/rtp.js';
import type { RtpStats } from '../../src/carriers/sip/rtp-session.js';
import { parseSipMessage } from '../../src/carriers/sip/sip-message.js';
import { ERRORS } from '../../src/errors.js';
import { BrowserCaller } from '../doubles/browser-caller.js';
import { inDialog, invite, newCallId, SipPeer, type SipResponse } from '../doubles/sip-peer.js';
import { AUTH_TOKEN, eventually, type Gateway, openMediaSocket } from '../helpers/gateway.js';
import {
  type AudioSocketInput,
  applySipEdits,
  audioSocketInput,
  audioSocketWrites,
  type BrowserInput,
  browserInput,
  type Fill,
  type HttpInput,
  httpInput,
  type LengthMode,
  lengthMode,
  renderSip,
  rtpDatagram,
  type SipDraft,
  type SipEdit,
  type SipInput,
  sdpLines,
  sipBytes,
  sipEdit,
  sipInput,
  type TwilioFrame,
  twilioFrames,
} from './arbitraries.js';
import { ADMIN_TOKEN, httpRequest, soon } from './harness.js';

/*
 * The edges of a running gateway, each as "deliver one fuzz input and wait until voxline has
 * taken it in". Shared by the vitest properties (one edge per file) and the long run (all at once).
 */

export interface Edge<T> {
  readonly name: string;
  readonly input: fc.Arbitrary<T>;
  /** Inputs delivered so far. */
  readonly sent: number;
  /** Delivers one input; resolves once voxline has read it (and closed, for a connection). */
  send(input: T): Promise<unknown>;
  /** Throws if an answer to an earlier input showed an internal failure (a SIP 500). */
  check?(): void;
  /** Problems found after the run (the RTP edge checks its call's exact counts). */
  finish(): Promise<string[]>;
  /** Calls this edge keeps open on purpose (not fuzz leftovers). */
  readonly keep: readonly string[];
  close(): Promise<void>;
}

let unique = 0;
/** A fresh id per delivery, so a replayed input is a new transaction or call. */
export function nextId(): number {
  return ++unique;
}

function bindUdp(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}

function closeUdp(socket: UdpSocket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

function sendUdp(socket: UdpSocket, bytes: Uint8Array, port: number): Promise<void> {
  // Errors (a datagram over 64 KiB) are the input's, not voxline's: nothing was delivered.
  return new Promise((resolve) => socket.send(bytes, port, '127.0.0.1', () => resolve()));
}

/** A TCP connection to `port`; resolves once connected. */
function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `writes`, then ends (or resets) the connection, and waits until it is closed. */
async function deliverTcp(
  socket: Socket,
  writes: readonly Uint8Array[],
  ending: 'end' | 'destroy',
): Promise<void> {
  socket.on('error', () => undefined); // a reset from voxline's side is an answer too
  socket.resume(); // read (and drop) what voxline answers, or its FIN is never reached
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (const chunk of writes) {
    if (socket.destroyed) break;
    await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
  }
  if (ending === 'end') socket.end();
  else socket.destroy();
  const guard = setTimeout(() => socket.destroy(), 10_000);
  await closed;
  clearTimeout(guard);
}

// --- SIP over UDP ---------------------------------------------------------------------------

/** Statuses voxline answered fuzz inputs with, for the summary. */
export type Statuses = Map<number, number>;

function count(statuses: Statuses, status: number): void {
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
}

export class SipUdpEdge implements Edge<SipInput> {
  readonly name = 'sip-udp';
  readonly input = sipInput;
  readonly keep: string[] = [];
  readonly statuses: Statuses = new Map();
  sent = 0;
  readonly #port: number;
  readonly #socket: UdpSocket;
  readonly #sink: UdpSocket;
  /** Statuses answered per Call-ID, for the latest deliveries only (memory). */
  readonly #byCallId = new Map<string, number[]>();
  /** What was sent under each of those Call-IDs. */
  readonly #sentAs = new Map<string, Buffer>();
  /** 500 answers (an internal failure, unlike 503: capacity, draining) not yet reported, with their input. */
  readonly internalErrors: string[] = [];

  private constructor(port: number, socket: UdpSocket, sink: UdpSocket) {
    this.#port = port;
    this.#socket = socket;
    this.#sink = sink;
    socket.on('message', (data) => {
      try {
        const message = parseSipMessage(data);
        if (message.kind !== 'response') return;
        count(this.statuses, message.status);
        const callId = message.headers.get('call-id') ?? '';
        this.#byCallId.get(callId)?.push(message.status);
        // A 500 with Retry-After is RFC 3261's answer to an out-of-order CSeq in a dialog, not a failure.
        if (message.status === 500 && message.headers.get('retry-after') === undefined)
          this.noteInternalError(callId);
      } catch {
        count(this.statuses, -1); // voxline sent something that does not parse: visible in the summary
      }
    });
  }

  static async open(gw: Gateway): Promise<SipUdpEdge> {
    return new SipUdpEdge(gw.edgePorts.sip as number, await bindUdp(), await bindUdp());
  }

  /** Placeholder values for one delivery from this socket. */
  fill(transport: 'UDP' | 'TCP', port = this.#socket.address().port): Fill {
    const n = nextId();
    const sink = this.#sink.address().port;
    return {
      host: '127.0.0.1',
      port,
      transport,
      callId: `fuzz-${n}@127.0.0.1`,
      branch: `fz${n}`,
      tag: `t${n}`,
      mediaPort: sink,
      mediaPort2: sink,
    };
  }

  /** Responses voxline sent so far to the delivery that used `callId`. */
  statusesFor(callId: string): number[] {
    return this.#byCallId.get(callId) ?? [];
  }

  /** Remembers what went out under `callId` (the latest 1000 deliveries). */
  remember(callId: string, bytes: Buffer): void {
    this.#byCallId.set(callId, []);
    this.#sentAs.set(callId, bytes);
    if (this.#byCallId.size > 1000) {
      const oldest = this.#byCallId.keys().next().value as string;
      this.#byCallId.delete(oldest);
      this.#sentAs.delete(oldest);
    }
  }

  readonly #reported = new Set<string>();

  noteInternalError(callId: string): void {
    // A final answer over UDP is resent until its ACK: one report per delivery.
    if (this.#reported.has(callId)) return;
    this.#reported.add(callId);
    if (this.#reported.size > 1000) this.#reported.delete(this.#reported.values().next().value as string);
    const sent = this.#sentAs.get(callId);
    this.internalErrors.push(
      `500 Server Internal Error to: ${sent ? JSON.stringify(sent.toString('latin1').slice(0, 3000)) : `(Call-ID ${callId})`}`,
    );
  }

  /** Throws if voxline answered an input with 500 since the last check (naming that input). */
  check(): void {
    const [first] = this.internalErrors.splice(0);
    if (first) throw new Error(first);
  }

  /** Forgets 500s not yet reported (a test that judges one input on its own). */
  discardReports(): void {
    this.internalErrors.length = 0;
  }

  async send(input: SipInput): Promise<Fill> {
    this.sent++;
    const fill = this.fill('UDP');
    const bytes = sipBytes(input, fill);
    this.remember(fill.callId, bytes);
    await sendUdp(this.#socket, bytes, this.#port);
    return fill;
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    await closeUdp(this.#socket);
    await closeUdp(this.#sink);
  }
}

// --- SIP over TCP ---------------------------------------------------------------------------

export interface SipTcpInput {
  readonly messages: readonly SipInput[];
  /** After the messages: nothing, half a message, or bytes that frame nothing. */
  readonly tail: 'none' | 'partial' | 'garbage';
  readonly garbage: Uint8Array;
  readonly cuts: readonly number[];
  readonly ending: 'end' | 'destroy';
}

export const sipTcpInput: fc.Arbitrary<SipTcpInput> = fc.record({
  messages: fc.array(sipInput, { minLength: 1, maxLength: 3 }),
  tail: fc.oneof(
    { arbitrary: fc.constant('none' as const), weight: 4 },
    { arbitrary: fc.constantFrom('partial' as const, 'garbage' as const), weight: 1 },
  ),
  garbage: fc.uint8Array({ maxLength: 200 }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  ending: fc.oneof(
    { arbitrary: fc.constant('end' as const), weight: 4 },
    { arbitrary: fc.constant('destroy' as const), weight: 1 },
  ),
});

export class SipTcpEdge implements Edge<SipTcpInput> {
  readonly name = 'sip-tcp';
  readonly input = sipTcpInput;
  readonly keep: string[] = [];
  sent = 0;
  readonly #port: number;
  readonly #udp: SipUdpEdge;

  private constructor(port: number, udp: SipUdpEdge) {
    this.#port = port;
    this.#udp = udp;
  }

  static async open(gw: Gateway): Promise<SipTcpEdge> {
    return new SipTcpEdge(gw.edgePorts.sip as number, await SipUdpEdge.open(gw));
  }

  check(): void {
    this.#udp.check();
  }

  discardReports(): void {
    this.#udp.discardReports();
  }

  async send(input: SipTcpInput): Promise<void> {
    this.sent++;
    const socket = await tcp(this.#port);
    const { port } = socket.address() as { port: number };
    const parts = input.messages.map((m) => {
      const fill = this.#udp.fill('TCP', port);
      const bytes = sipBytes(m, fill);
      this.#udp.remember(fill.callId, bytes);
      return bytes;
    });
    // The answers on this connection (framed by Content-Length), for the 500 check.
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        if (/^SIP\/2\.0 500 /.test(head) && !/\r\nretry-after:/i.test(head))
          this.#udp.noteInternalError(/\r\ncall-id:\s*(\S+)/i.exec(head)?.[1] ?? '');
      }
    });
    if (input.tail === 'partial') {
      const whole = sipBytes(input.messages[0], this.#udp.fill('TCP', port));
      parts.push(whole.subarray(0, Math.floor(whole.length / 2)));
    }
    if (input.tail === 'garbage') parts.push(Buffer.from(input.garbage));
    const bytes = Buffer.concat(parts);
    const cuts = [...new Set(input.cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
    const writes: Buffer[] = [];
    let at = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut > at) writes.push(bytes.subarray(at, cut));
      at = Math.max(at, cut);
    }
    await deliverTcp(socket, writes, input.ending);
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.#udp.close();
  }
}

// --- SIP requests inside a live dialog -----------------------------------------------------------

const DIALOG_METHODS = ['INVITE', 'INFO', 'UPDATE', 'BYE', 'ACK', 'CANCEL', 'OPTIONS', 'PRACK'] as const;

export interface DialogRequest {
  readonly method: (typeof DIALOG_METHODS)[number];
  /** CSeq relative to the last one sent in the dialog (0: a retransmission, negative: out of order). */
  readonly cseqStep: number;
  readonly body: 'none' | 'sdp' | 'dtmf-relay' | 'dtmf' | 'multipart';
  readonly direction: string;
  readonly edits: readonly SipEdit[];
  readonly length: LengthMode;
}

export const dialogInput: fc.Arbitrary<DialogRequest[]> = fc.array(
  fc.record({
    method: fc.oneof(
      { arbitrary: fc.constantFrom('INVITE' as const, 'INFO' as const, 'UPDATE' as const), weight: 6 },
      { arbitrary: fc.constantFrom(...DIALOG_METHODS), weight: 2 },
    ),
    cseqStep: fc.oneof(
      { arbitrary: fc.constant(1), weight: 6 },
      { arbitrary: fc.integer({ min: -3, max: 3 }), weight: 2 },
    ),
    body: fc.constantFrom(
      'none' as const,
      'sdp' as const,
      'dtmf-relay' as const,
      'dtmf' as const,
      'multipart' as const,
    ),
    direction: fc.constantFrom('sendrecv', 'sendonly', 'recvonly', 'inactive'),
    edits: fc.array(sipEdit, { maxLength: 3 }),
    length: lengthMode,
  }),
  { minLength: 1, maxLength: 4 },
);

/**
 * Requests inside a real dialog: each input opens a call (INVITE, 200, ACK), sends re-INVITEs
 * (hold, resume, mutated offers), INFO key presses, UPDATEs and the rest with the dialog's own
 * Call-ID and tags, mutated like any other message, then hangs up with a BYE.
 */
export class SipDialogEdge implements Edge<DialogRequest[]> {
  readonly name = 'sip-dialog';
  readonly input = dialogInput;
  readonly keep: string[] = [];
  readonly statuses: Statuses = new Map();
  sent = 0;
  /** Inputs whose INVITE voxline refused with 503 (a full table or port range): skipped, not failed. */
  refusedForCapacity = 0;
  readonly #peer: SipPeer;
  readonly #sink: UdpSocket;
  /** The requests of the input being delivered, by their CSeq line. */
  #lastSent = new Map<string, Buffer>();

  private constructor(peer: SipPeer, sink: UdpSocket) {
    this.#peer = peer;
    this.#sink = sink;
  }

  static async open(gw: Gateway): Promise<SipDialogEdge> {
    return new SipDialogEdge(await SipPeer.open(gw.edgePorts.sip as number), await bindUdp());
  }

  /** Throws if a request of the last input was answered 500 without Retry-After (an internal failure). */
  check(): void {
    const bad = this.#peer.responses.find(
      (r) => r.status === 500 && r.headers.get('retry-after') === undefined,
    );
    if (!bad) return;
    this.#peer.responses.length = 0;
    const sent = this.#lastSent.get(bad.headers.get('cseq') ?? '');
    throw new Error(
      `500 Server Internal Error in a dialog to: ${sent ? JSON.stringify(sent.toString('latin1').slice(0, 3000)) : bad.headers.get('cseq')}`,
    );
  }

  async send(requests: DialogRequest[]): Promise<void> {
    this.sent++;
    const peer = this.#peer;
    for (const r of peer.responses) count(this.statuses, r.status);
    peer.responses.length = 0; // what earlier inputs were answered is of no more use (memory)
    peer.requests.length = 0;
    this.#lastSent = new Map();
    const callId = newCallId();
    const media = this.#sink.address().port;
    peer.send(invite({ callId, peer, mediaPort: media }));
    const final = await peer.response(callId);
    peer.send(inDialog('ACK', final, peer, 1));
    if (final.status === 503) {
      this.refusedForCapacity++; // voxline protecting itself (calls, transactions, ports): no dialog to fuzz
      return;
    }
    if (final.status !== 200) throw new Error(`the dialog's INVITE was answered ${final.status}`);
    const ok = final;
    let cseq = 1;
    for (const [i, r] of requests.entries()) {
      cseq = Math.max(0, cseq + r.cseqStep);
      const draft = applySipEdits(dialogDraft(r, ok, peer, cseq, media, i), r.edits);
      const text = renderSip(draft, r.length).replace('{length}', String(Buffer.byteLength(draft.body)));
      const bytes = Buffer.from(text);
      const cseqLine = /\r\ncseq:[ \t]*([^\r]*)/i.exec(text)?.[1];
      if (cseqLine) this.#lastSent.set(cseqLine, bytes);
      peer.send(bytes);
    }
    peer.send(inDialog('BYE', ok, peer, cseq + 10));
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {
    this.#peer.close();
    await closeUdp(this.#sink);
  }
}

/** A request in the dialog `ok` answered, as the peer that sent the INVITE would write it. */
function dialogDraft(
  r: DialogRequest,
  ok: SipResponse,
  peer: SipPeer,
  cseq: number,
  media: number,
  i: number,
): SipDraft {
  const h = ok.headers;
  const sdp = `${sdpLines(String(media), peer.address).join('\r\n').replace('a=sendrecv', `a=${r.direction}`)}\r\n`;
  const bodies: Record<DialogRequest['body'], [string | undefined, string]> = {
    none: [undefined, ''],
    sdp: ['application/sdp', sdp],
    'dtmf-relay': ['application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'],
    dtmf: ['application/dtmf', '#'],
    multipart: [
      'multipart/mixed;boundary=dlg',
      `--dlg\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--dlg--\r\n`,
    ],
  };
  const [type, body] = bodies[r.body];
  return {
    start: `${r.method} sip:voxline@127.0.0.1 SIP/2.0`,
    headers: [
      ['Via', `SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bKdlg${nextId()}x${i};rport`],
      ['Max-Forwards', '70'],
      ['From', h.get('from') ?? ''],
      ['To', h.get('to') ?? ''],
      ['Call-ID', h.get('call-id') ?? ''],
      ['CSeq', `${cseq} ${r.method}`],
      ['Contact', `<sip:peer@${peer.address}:${peer.port}>`],
      ...(type ? ([['Content-Type', type]] as [string, string][]) : []),
    ],
    body,
  };
}

// --- RTP and RFC 4733 at a live SIP call ------------------------------------------------------------

/** What voxline's RTP session does with one datagram (rtp-session.ts), for the exact counts. */
export type RtpFate =
  | 'rtcp'
  | 'not_rtp'
  | 'comfort_noise'
  | 'unexpected_payload_type'
  | 'dtmf'
  | 'audio'
  | 'empty_audio';

export function rtpFate(datagram: Uint8Array, codecPt = 0, dtmfPt = 101): RtpFate {
  const packet = parseRtp(datagram);
  if (!packet) return datagram.length >= 8 && datagram[1] >= 200 && datagram[1] <= 204 ? 'rtcp' : 'not_rtp';
  const pt = packet.payloadType;
  if (pt !== codecPt && pt !== dtmfPt) {
    return pt === 13 || (pt >= 72 && pt <= 76) ? 'comfort_noise' : 'unexpected_payload_type';
  }
  if (pt === dtmfPt) return 'dtmf';
  return packet.payload.length > 0 ? 'audio' : 'empty_audio';
}

/**
 * A real SIP call (INVITE, 200, ACK; PCMU with telephone-event 101) whose RTP port gets the fuzz
 * datagrams, from the address it latched to. Every datagram's fate is known in advance from the
 * RTP parser, so the stream's counts must match exactly after each input: packets taken,
 * refusals by reason, and frames that reached the leg.
 */
export class RtpEdge implements Edge<Uint8Array[]> {
  readonly name = 'rtp';
  readonly input: fc.Arbitrary<Uint8Array[]>;
  readonly keep: string[];
  sent = 0;
  readonly expected = { packets: 0, notRtp: 0, unexpectedPt: 0, frames: 0 };
  readonly #gw: Gateway;
  readonly #peer: SipPeer;
  readonly #media: UdpSocket;
  readonly #rtpPort: number;
  readonly #ok: Awaited<ReturnType<SipPeer['response']>>;

  private constructor(
    gw: Gateway,
    peer: SipPeer,
    media: UdpSocket,
    rtpPort: number,
    ok: Awaited<ReturnType<SipPeer['response']>>,
    callSid: string,
  ) {
    this.#gw = gw;
    this.#peer = peer;
    this.#media = media;
    this.#rtpPort = rtpPort;
    this.#ok = ok;
    this.keep = [callSid];
    this.input = fc.array(rtpDatagram, { minLength: 1, maxLength: 4 });
  }

  get callSid(): string {
    return this.keep[0];
  }

  static async open(gw: Gateway): Promise<RtpEdge> {
    const peer = await SipPeer.open(gw.edgePorts.sip as number);
    const media = await bindUdp();
    const callId = newCallId();
    peer.send(invite({ callId, peer, mediaPort: media.address().port }));
    const ok = await peer.response(callId, 200);
    peer.send(inDialog('ACK', ok, peer, 1));
    const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())?.[1]);
    const call = await eventually(() => {
      const found = gw.app.registry.live().find((c) => c.start.customParameters.sipCallId === callId);
      if (!found) throw new Error('the RTP edge’s SIP call did not open');
      return found;
    });
    const edge = new RtpEdge(gw, peer, media, rtpPort, ok, call.callSid);
    // The first packet latches the stream to this socket; every fuzz datagram comes from it.
    await edge.send([buildRtp(0, 1, 0, 0x1234, new Uint8Array(160).fill(0x55))]);
    return edge;
  }

  async send(datagrams: Uint8Array[]): Promise<void> {
    this.sent++;
    for (const d of datagrams) {
      switch (rtpFate(d)) {
        case 'not_rtp':
          this.expected.notRtp++;
          break;
        case 'unexpected_payload_type':
          this.expected.unexpectedPt++;
          break;
        case 'dtmf':
        case 'empty_audio':
          this.expected.packets++;
          break;
        case 'audio':
          this.expected.packets++;
          this.expected.frames++;
          break;
        default:
          break;
      }
      await sendUdp(this.#media, d, this.#rtpPort);
    }
    try {
      await soon(() => {
        const problems = this.#mismatch();
        if (problems.length > 0)
          throw new Error(`RTP counts after ${this.sent} inputs: ${problems.join('; ')}`);
      });
    } catch (err) {
      this.#resync(); // so that one miscount is reported once, not again with every later input
      throw err;
    }
  }

  /** Takes the stream's counts as they are as the expected ones. */
  #resync(): void {
    const stats = this.#gw.app.registry.get(this.callSid)?.snapshot();
    const rtp = stats?.rtp?.[0] as RtpStats | undefined;
    this.expected.packets = rtp?.packets ?? this.expected.packets;
    this.expected.notRtp = rtp?.refused.not_rtp ?? 0;
    this.expected.unexpectedPt = rtp?.refused.unexpected_payload_type ?? 0;
    this.expected.frames = stats?.legs[0]?.framesReceived ?? this.expected.frames;
  }

  #mismatch(): string[] {
    const call = this.#gw.app.registry.get(this.callSid);
    if (!call || call.state !== 'live') return [`the RTP edge’s call is ${call?.state ?? 'gone'}`];
    const stats = call.snapshot();
    const rtp = stats.rtp?.[0] as RtpStats | undefined;
    const leg = stats.legs[0];
    const e = this.expected;
    const problems: string[] = [];
    if (rtp?.packets !== e.packets) problems.push(`packets ${rtp?.packets}, expected ${e.packets}`);
    if ((rtp?.refused.not_rtp ?? 0) !== e.notRtp)
      problems.push(`not_rtp ${rtp?.refused.not_rtp}, expected ${e.notRtp}`);
    const pt = rtp?.refused.unexpected_payload_type ?? 0;
    if (pt !== e.unexpectedPt) problems.push(`unexpected_payload_type ${pt}, expected ${e.unexpectedPt}`);
    const other = Object.keys(rtp?.refused ?? {}).filter(
      (k) => k !== 'not_rtp' && k !== 'unexpected_payload_type',
    );
    if (other.length > 0) problems.push(`refused for ${other.join(', ')}`);
    if (leg?.framesReceived !== e.frames)
      problems.push(`framesReceived ${leg?.framesReceived}, expected ${e.frames}`);
    return problems;
  }

  /** Hangs up with a BYE; the call must end as `bye`, its counts unchanged. */
  async finish(): Promise<string[]> {
    const problems = this.#mismatch();
    this.#peer.send(inDialog('BYE', this.#ok, this.#peer, 2));
    const ended = await eventually(() => {
      const call = this.#gw.app.registry.get(this.callSid);
      if (call?.state !== 'ended') throw new Error('the RTP edge’s call did not end on BYE');
      return call;
    }).catch((err: Error) => {
      problems.push(err.message);
      return undefined;
    });
    if (ended && ended.endReason !== 'bye') problems.push(`the RTP edge’s call ended as ${ended.endReason}`);
    const leg = ended?.snapshot().legs[0];
    if (ended && leg?.framesReceived !== this.expected.frames)
      problems.push(`after BYE framesReceived ${leg?.framesReceived}, expected ${this.expected.frames}`);
    return problems;
  }

  async close(): Promise<void> {
    this.#peer.close();
    await closeUdp(this.#media);
  }
}

// --- AudioSocket --------------------------------------------------------------------------------

export class AudioSocketEdge implements Edge<AudioSocketInput> {
  readonly name = 'audiosocket';
  readonly input = audioSocketInput;
  readonly keep: string[] = [];
  sent = 0;
  readonly #port: number;

  constructor(gw: Gateway) {
    this.#port = gw.edgePorts.audioSocket as number;
  }

  async send(input: AudioSocketInput): Promise<void> {
    this.sent++;
    // A fresh UUID per delivery (the last two bytes count), so a replay is a new call.
    const n = nextId();
    const uuidBytes = Uint8Array.from(input.uuidBytes);
    uuidBytes[14] = (n >> 8) & 0xff;
    uuidBytes[15] = n & 0xff;
    const socket = await tcp(this.#port);
    await deliverTcp(socket, audioSocketWrites({ ...input, uuidBytes }), input.ending);
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

// --- Twilio Media Streams -------------------------------------------------------------------------

export class TwilioEdge implements Edge<TwilioFrame[]> {
  readonly name = 'twilio';
  readonly input = twilioFrames;
  readonly keep: string[] = [];
  readonly closeCodes = new Map<number, number>();
  sent = 0;
  readonly #gw: Gateway;

  constructor(gw: Gateway) {
    this.#gw = gw;
  }

  async send(frames: TwilioFrame[]): Promise<void> {
    this.sent++;
    const sid = `fuzz${String(nextId()).padStart(28, '0')}`;
    const raw = await openMediaSocket(this.#gw);
    for (const frame of frames) {
      if (raw.socket.readyState !== raw.socket.OPEN) break;
      if ('text' in frame) raw.sendRaw(frame.text.replaceAll('{sid}', sid));
      else raw.sendRaw(Buffer.from(frame.binary), true);
    }
    if (raw.socket.readyState === raw.socket.OPEN) raw.socket.close(1000, 'fuzz input over');
    const guard = setTimeout(() => raw.socket.terminate(), 10_000);
    const closed = await raw.closed;
    clearTimeout(guard);
    this.closeCodes.set(closed.code, (this.closeCodes.get(closed.code) ?? 0) + 1);
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

// --- Browser calls -------------------------------------------------------------------------------

export class BrowserEdge implements Edge<BrowserInput> {
  readonly name = 'browser';
  readonly input = browserInput;
  readonly keep: string[] = [];
  readonly closeCodes = new Map<number, number>();
  sent = 0;
  readonly #gw: Gateway;

  constructor(gw: Gateway) {
    this.#gw = gw;
  }

  async send(input: BrowserInput): Promise<void> {
    this.sent++;
    const page = await BrowserCaller.connect(this.#gw.baseUrl, { bearer: ADMIN_TOKEN });
    for (const frame of input.frames) {
      if (!page.open) break;
      if ('text' in frame) page.sendRaw(frame.text, false);
      else page.sendRaw(Buffer.from(frame.binary), true);
    }
    if (page.open) {
      if (input.ending === 'close') page.socket.close(1000, 'fuzz input over');
      else page.socket.terminate();
    }
    const guard = setTimeout(() => page.socket.terminate(), 10_000);
    const closed = await page.closed;
    clearTimeout(guard);
    this.closeCodes.set(closed.code, (this.closeCodes.get(closed.code) ?? 0) + 1);
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

// --- HTTP --------------------------------------------------------------------------------------

/** Why a response is not acceptable: a 5xx must be a well-formed voxline JSON error. */
export function badResponse(input: HttpInput, status: number, body: Buffer): string | undefined {
  if (status < 500) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return `${input.method} ${input.path}${input.query}: ${status} with a body that is not JSON: ${body.toString('utf8').slice(0, 200)}`;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } })?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string' || !(error.code in ERRORS)) {
    return `${input.method} ${input.path}${input.query}: ${status} with a body that is not a voxline error: ${body.toString('utf8').slice(0, 200)}`;
  }
  return undefined;
}

export class HttpEdge implements Edge<HttpInput> {
  readonly name = 'http';
  readonly input = httpInput;
  readonly keep: string[] = [];
  readonly statuses: Statuses = new Map();
  /** 5xx answers that were well-formed errors, by code (VL_ERR_INTERNAL among them is a finding). */
  readonly serverErrors = new Map<string, number>();
  sent = 0;
  readonly #gw: Gateway;
  readonly #liveSid: string;
  readonly #endedSid: string;

  constructor(gw: Gateway, liveSid: string, endedSid: string) {
    this.#gw = gw;
    this.#liveSid = liveSid;
    this.#endedSid = endedSid;
  }

  /** The request as sent: placeholders filled, the admin token and a Twilio signature where asked. */
  request(input: HttpInput): {
    url: string;
    method: string;
    headers: Record<string, string>;
    body?: Uint8Array | string;
  } {
    const path = input.path
      .replace('{sid}', this.#liveSid)
      .replace('{ended}', this.#endedSid)
      .replace('{x}', String(nextId()));
    const url = `${this.#gw.baseUrl}${path}${input.query}`;
    const body = typeof input.body === 'string' ? input.body.replaceAll('{sid}', this.#liveSid) : input.body;
    const headers: Record<string, string> = {};
    for (const [name, value] of input.extraHeaders) headers[name] = value;
    if (input.contentType !== undefined) headers['content-type'] = input.contentType;
    if (input.auth === 'admin') headers.authorization = `Bearer ${ADMIN_TOKEN}`;
    if (input.auth === 'wrong') headers.authorization = 'Bearer not-the-token';
    if (input.signature !== 'none') {
      let params: Record<string, unknown> = {};
      const text = typeof body === 'string' ? body : '';
      if (input.contentType?.startsWith('application/x-www-form-urlencoded'))
        params = { ...parseQuery(text) };
      else if (input.contentType?.startsWith('application/json')) {
        try {
          const parsed: unknown = JSON.parse(text);
          if (parsed && typeof parsed === 'object') params = parsed as Record<string, unknown>;
        } catch {}
      }
      headers['x-twilio-signature'] =
        input.signature === 'valid'
          ? getExpectedTwilioSignature(AUTH_TOKEN, url, params as Record<string, string>)
          : 'bm90IGEgc2lnbmF0dXJl';
    }
    return { url, method: input.method, headers, body };
  }

  /** Sends one request; rejects (with the reason) on a 5xx that is not a voxline JSON error. */
  async send(input: HttpInput): Promise<void> {
    this.sent++;
    const { url, method, headers, body } = this.request(input);
    const response = await httpRequest(url, { method, headers, body }).catch((err: Error) => {
      // A connection voxline cut before answering (e.g. a body over the limit) is not a crash.
      if (/ECONNRESET|socket hang up|EPIPE/.test(err.message)) return undefined;
      throw err;
    });
    if (!response) {
      count(this.statuses, 0);
      return;
    }
    count(this.statuses, response.status);
    if (response.status >= 500) {
      const code = (() => {
        try {
          return String(JSON.parse(response.body.toString('utf8')).error.code);
        } catch {
          return 'not JSON';
        }
      })();
      this.serverErrors.set(code, (this.serverErrors.get(code) ?? 0) + 1);
    }
    const bad = method === 'HEAD' ? undefined : badResponse(input, response.status, response.body);
    if (bad) throw new Error(bad);
  }

  async finish(): Promise<string[]> {
    return [];
  }

  async close(): Promise<void> {}
}

/** An ended Twilio call (start, two frames, stop) for the HTTP edge to ask about (transcript, recording). */
export async function endedCall(gw: Gateway): Promise<string> {
  const sid = `CAended${String(nextId()).padStart(27, '0')}`;
  const raw = await openMediaSocket(gw);
  const streamSid = `MZ${sid.slice(2)}`;
  raw.send({
    event: 'start',
    sequenceNumber: '1',
    streamSid,
    start: {
      accountSid: 'ACtest',
      streamSid,
      callSid: sid,
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  });
  for (let i = 0; i < 2; i++)
    raw.send({
      event: 'media',
      sequenceNumber: String(i + 2),
      streamSid,
      media: {
        track: 'inbound',
        chunk: String(i + 1),
        timestamp: String(i * 20),
        payload: Buffer.alloc(160, 0x7f).toString('base64'),
      },
    });
  raw.send({ event: 'stop', sequenceNumber: '4', streamSid, stop: { accountSid: 'ACtest', callSid: sid } });
  await raw.closed;
  await eventually(() => {
    if (gw.app.registry.get(sid)?.state !== 'ended') throw new Error('the ended call did not end');
  });
  return sid;
}
