import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Leg } from '../../calls/leg.js';
import type { IngressTotals } from '../../observability/ingress-metrics.js';
import { buildRtp, parseRtp, parseTelephoneEvent, type RtpPacket } from './rtp.js';
import type { SdpCodec } from './sdp.js';

export interface RtpStats {
  readonly localPort: number;
  readonly remote: string | null;
  readonly codec: string;
  readonly packets: number;
  /** Sequence numbers skipped and never received (RFC 3550 A.3: expected − received). */
  readonly lost: number;
  /** Largest interarrival jitter seen, in ms (RFC 3550 §6.4.1). */
  readonly maxJitterMs: number;
  readonly ssrcChanges: number;
  readonly dtmfEvents: number;
  /** Packets refused: wrong source, payload type voxline did not negotiate, not RTP. */
  readonly refused: Readonly<Record<string, number>>;
  readonly packetsSent: number;
}

export interface RtpSessionOptions {
  /** G.711 or G.722: either way one payload byte per tick of the 8000 Hz RTP clock. */
  readonly codec: { readonly name: SdpCodec; readonly pt: number };
  readonly dtmfPt: number | undefined;
  /** Source IPs RTP may come from before latching: the SDP address and the signalling peer. */
  readonly allowedAddresses: readonly string[];
  /** Where the offer said to send, until the first valid packet shows where the far end really is. */
  readonly remote: { readonly address: string; readonly port: number };
  /**
   * Send to `remote` before any media arrived. Off when anyone may call (SIP_ALLOW empty): an
   * offer could name a third party, and voxline would stream at it; latching proves the peer.
   */
  readonly sendBeforeLatch: boolean;
  readonly totals: IngressTotals;
  readonly onRefused: (reason: string) => void;
}

/** What a session feeds once its call exists (set by `attach`, never before). */
export interface RtpSink {
  readonly leg: Leg;
  /** Per packet: the call's idle watch. */
  readonly onActivity: () => void;
  readonly onDtmf: (digit: string) => void;
  /** Handling a packet threw: the call should end (the packet is dropped, the process goes on). */
  readonly onFailure: (error: unknown) => void;
}

/** No even port in SIP_RTP_PORTS could be bound: a capacity condition (503), not a fault. */
export class NoRtpPortError extends Error {
  constructor(min: number, max: number) {
    super(`no free RTP port in ${min}–${max}`);
    this.name = 'NoRtpPortError';
  }
}

interface SourceState {
  ssrc: number;
  lastExtended: number;
  /** Leg position (samples) that this SSRC's first timestamp maps to. */
  base: number;
  firstTimestamp: number;
  baseSequence: number;
  maxSequence: number;
  received: number;
  transit: number | undefined;
  jitter: number;
}

const CLOCK_PER_MS = 8;

/**
 * One negotiated audio stream: its UDP socket, the far end's packets turned into leg audio on
 * the RTP clock (the leg's aligner is the jitter buffer: reorder, fill, drop late), RFC 4733 keys,
 * loss and jitter per SSRC, and symmetric RTP out (to the source of the first valid packet).
 */
export class RtpSession {
  readonly socket: Socket;
  readonly #o: RtpSessionOptions;
  /** The negotiated codec: fixed for an answer voxline writes, set by the answer to an offer it made. */
  #codec: RtpSessionOptions['codec'];
  #dtmfPt: number | undefined;
  /** Where to send until latched: the offer's address, moved by a re-INVITE. */
  #remote: { address: string; port: number };
  #sink: RtpSink | undefined;
  #latched: RemoteInfo | undefined;
  #source: SourceState | undefined;
  #lostCounted = 0;
  /** Loss of earlier SSRCs of this stream. */
  #lostBefore = 0;
  #packets = 0;
  #ssrcChanges = 0;
  #maxJitter = 0;
  #dtmfEvents = 0;
  readonly #dtmfSeen = new Set<string>();
  readonly #refused: Record<string, number> = {};
  // Outbound state.
  readonly #ssrc = (Math.random() * 0x1_0000_0000) >>> 0;
  #sequence = Math.floor(Math.random() * 0x10000);
  #timestamp = (Math.random() * 0x1_0000_0000) >>> 0;
  #sent = 0;
  /** The start timestamp of the key being sent (RFC 4733 §2.3.1). */
  #eventTimestamp = 0;
  #closed = false;

  private constructor(socket: Socket, options: RtpSessionOptions) {
    this.socket = socket;
    this.#o = options;
    this.#codec = options.codec;
    this.#dtmfPt = options.dtmfPt;
    this.#remote = { ...options.remote };
    socket.on('message', (data, rinfo) => {
      try {
        this.#receive(data, rinfo);
      } catch (err) {
        // A containment boundary: this packet is dropped and its call told; nothing escapes the listener.
        this.#refuse('handler_failed');
        this.#sink?.onFailure(err);
      }
    });
    socket.on('error', () => undefined);
  }

  /** Binds an even port in [min, max] on `bind` (random start, then the next ones). */
  static async open(bind: string, min: number, max: number, options: RtpSessionOptions): Promise<RtpSession> {
    const span = Math.floor((max - min) / 2) + 1;
    const first = Math.floor(Math.random() * span);
    for (let i = 0; i < Math.min(span, 64); i++) {
      const port = min + 2 * ((first + i) % span);
      const socket = createSocket(bind.includes(':') ? 'udp6' : 'udp4');
      const bound = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, bind, () => resolve(true));
      });
      if (bound) return new RtpSession(socket, options);
      socket.close();
    }
    throw new NoRtpPortError(min, max);
  }

  get codec(): SdpCodec {
    return this.#codec.name;
  }

  /** voxline made the offer (an outbound call): the far end's answer picks the codec. */
  negotiated(codec: RtpSessionOptions['codec'], dtmfPt: number | undefined): void {
    this.#codec = codec;
    this.#dtmfPt = dtmfPt;
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  /** Starts feeding the call: audio, key presses and activity before this are dropped. */
  attach(sink: RtpSink): void {
    this.#sink = sink;
  }

  /** A re-INVITE moved the far end: send there until a packet says otherwise. */
  retarget(address: string, port: number): void {
    if (!this.#latched) this.#remote = { address, port };
  }

  /** Whether `send` reaches anyone yet (latched, or allowed to send to the offer's address). */
  get canSend(): boolean {
    return this.#latched !== undefined || this.#o.sendBeforeLatch;
  }

  /** Sends one frame of encoded audio (the codec negotiated) and advances the RTP clock. */
  send(payload: Uint8Array, marker = false): void {
    if (this.#closed) return;
    const to = this.#latched ?? (this.#o.sendBeforeLatch ? this.#remote : undefined);
    if (to && to.port > 0 && to.address !== '0.0.0.0') {
      this.socket.send(
        buildRtp(this.#codec.pt, this.#sequence, this.#timestamp, this.#ssrc, payload, marker),
        to.port,
        to.address,
      );
      this.#sequence = (this.#sequence + 1) & 0xffff;
      this.#sent++;
    }
    this.#timestamp = (this.#timestamp + payload.length) >>> 0;
  }

  /** The negotiated telephone-event payload type, if the far end takes RFC 4733 keys. */
  get dtmfPt(): number | undefined {
    return this.#dtmfPt;
  }

  /**
   * One packet of a key press (RFC 4733) instead of a frame of audio: every packet of an event
   * carries the event's start timestamp; the stream's clock still moves a frame (`samples`).
   */
  sendKey(payload: Uint8Array, start: boolean, samples: number): void {
    if (start) this.#eventTimestamp = this.#timestamp;
    const to = this.#latched ?? (this.#o.sendBeforeLatch ? this.#remote : undefined);
    if (!this.#closed && this.#dtmfPt !== undefined && to && to.port > 0 && to.address !== '0.0.0.0') {
      this.socket.send(
        buildRtp(this.#dtmfPt, this.#sequence, this.#eventTimestamp, this.#ssrc, payload, start),
        to.port,
        to.address,
      );
      this.#sequence = (this.#sequence + 1) & 0xffff;
      this.#sent++;
    }
    this.#timestamp = (this.#timestamp + samples) >>> 0;
  }

  /** Advances the RTP clock without sending (on hold), so timestamps stay true to time. */
  skip(samples: number): void {
    this.#timestamp = (this.#timestamp + samples) >>> 0;
  }

  stats(): RtpStats {
    return {
      localPort: this.#closed ? 0 : this.localPort,
      remote: this.#latched ? `${this.#latched.address}:${this.#latched.port}` : null,
      codec: this.#codec.name,
      packets: this.#packets,
      lost: this.#lostCounted,
      maxJitterMs: this.#maxJitter / CLOCK_PER_MS,
      ssrcChanges: this.#ssrcChanges,
      dtmfEvents: this.#dtmfEvents,
      refused: { ...this.#refused },
      packetsSent: this.#sent,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
  }

  #refuse(reason: string): void {
    this.#refused[reason] = (this.#refused[reason] ?? 0) + 1;
    this.#o.onRefused(reason);
  }

  #receive(data: Buffer, from: RemoteInfo): void {
    const packet = parseRtp(data);
    if (!packet) {
      // RTCP shares the port when the far end multiplexes (RFC 5761): PT 200–204 in byte 1.
      if (data.length >= 8 && data[1] >= 200 && data[1] <= 204) return;
      this.#refuse('not_rtp');
      return;
    }
    // The payload type first: only media voxline negotiated may latch where voxline sends.
    const codec = this.#codec;
    const dtmfPt = this.#dtmfPt;
    if (packet.payloadType !== codec.pt && packet.payloadType !== dtmfPt) {
      if (packet.payloadType === 13 || (packet.payloadType >= 72 && packet.payloadType <= 76)) return; // CN, RTCP
      this.#refuse('unexpected_payload_type');
      return;
    }
    if (!this.#fromExpectedSource(packet, from)) return;
    this.#packets++;
    this.#o.totals.rtpPackets++;
    this.#o.totals.rtpBytes += data.length;
    this.#sink?.onActivity();
    if (packet.payloadType === dtmfPt) {
      this.#telephoneEvent(packet);
      return;
    }
    this.#audio(packet);
  }

  /** Latching (RFC 4961): the first valid packet from an allowed IP fixes the far end's address. */
  #fromExpectedSource(packet: RtpPacket, from: RemoteInfo): boolean {
    const latched = this.#latched;
    if (latched && latched.address === from.address && latched.port === from.port) return true;
    const allowed = this.#o.allowedAddresses.includes(from.address);
    // A new SSRC from an allowed address after the first latch: the far end moved (failover, transfer).
    const moved =
      latched !== undefined &&
      allowed &&
      packet.ssrc !== this.#source?.ssrc &&
      packet.payloadType !== this.#dtmfPt;
    if (!latched ? allowed : moved) {
      this.#latched = from;
      return true;
    }
    this.#refuse('unexpected_source');
    return false;
  }

  #audio(packet: RtpPacket): void {
    const leg = this.#sink?.leg;
    let s = this.#source;
    if (!s || s.ssrc !== packet.ssrc) {
      if (s) {
        this.#ssrcChanges++;
        this.#lostBefore = this.#lostCounted; // loss is counted per SSRC, then summed
      }
      // A new source continues the leg's timeline where it stands.
      s = {
        ssrc: packet.ssrc,
        lastExtended: 0,
        base: leg?.position ?? 0,
        firstTimestamp: packet.timestamp,
        baseSequence: packet.sequence,
        maxSequence: packet.sequence,
        received: 0,
        transit: undefined,
        jitter: 0,
      };
      this.#source = s;
    }
    s.received++;
    this.#sequenceSeen(s, packet.sequence);
    // Unwrap the 32-bit timestamp relative to the last one (packets are within ±2^31 of each other).
    const delta = (packet.timestamp - ((s.firstTimestamp + s.lastExtended) >>> 0)) | 0;
    s.lastExtended += delta;
    const arrival = performance.now() * CLOCK_PER_MS;
    const transit = arrival - s.lastExtended;
    if (s.transit !== undefined) {
      s.jitter += (Math.abs(transit - s.transit) - s.jitter) / 16;
      if (s.jitter > this.#maxJitter) this.#maxJitter = s.jitter;
    }
    s.transit = transit;
    if (leg && packet.payload.length > 0) leg.pushBytes(s.base + s.lastExtended, packet.payload);
  }

  /** RFC 3550 A.1/A.3 in short: expected = extended max − base + 1; lost = expected − received. */
  #sequenceSeen(s: SourceState, sequence: number): void {
    const forward = (sequence - (s.maxSequence & 0xffff) + 0x10000) & 0xffff;
    if (forward > 0 && forward < 0x8000) s.maxSequence += forward;
    const expected = s.maxSequence - s.baseSequence + 1;
    const lost = Math.max(0, expected - s.received);
    const total = this.#lostBefore + lost;
    if (total > this.#lostCounted) {
      this.#o.totals.rtpLost += total - this.#lostCounted;
      this.#lostCounted = total;
    }
  }

  #telephoneEvent(packet: RtpPacket): void {
    const event = parseTelephoneEvent(packet.payload);
    if (!event?.digit) return;
    // One event = one timestamp; its packets (and the end packet's three copies) are one key press.
    const key = `${packet.ssrc}:${packet.timestamp}`;
    if (this.#dtmfSeen.has(key)) return;
    this.#dtmfSeen.add(key);
    if (this.#dtmfSeen.size > 256) this.#dtmfSeen.delete(this.#dtmfSeen.values().next().value as string);
    this.#dtmfEvents++;
    this.#sink?.onDtmf(event.digit);
  }
}
