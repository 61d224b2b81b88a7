import { createServer, type Server, type Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { type Call, MAX_DTMF_PER_CALL } from '../../calls/call.js';
import { isVoxlineError } from '../../errors.js';
import type { CallStart, LegSpec } from '../carrier.js';
import { ConnectionCounter, type ConnectionLimits } from '../connection-limits.js';
import type { EdgeContext } from '../edge-context.js';
import { SourceAllowlist } from '../source-allowlist.js';
import { AudioSocketCall, audioSocketOutbound } from './audiosocket-call.js';
import {
  AUDIO_RATES,
  type AudioSocketFrame,
  encodeFrame,
  FrameReader,
  KIND,
  pcmFromLittleEndian,
  uuidFromBytes,
} from './frames.js';

export interface AudioSocketOptions {
  readonly port: number;
  readonly bind: string;
  readonly mode: 'transcribe' | 'agent';
  /** Two connections whose UUIDs differ only in the last hex digit (0 caller, 1 agent) are one call. */
  readonly pairLegs: boolean;
  readonly allow: readonly string[];
  /** Connections held at once, in all and per source (a flood of idle ones would take every fd). */
  readonly limits: ConnectionLimits;
}

const LOUD_WARNINGS = 5;

/**
 * Asterisk AudioSocket over TCP (Asterisk connects to us). First frame: the UUID; then signed
 * linear audio at 8–192 kHz (the first audio frame's kind fixes the leg's rate), DTMF, and hangup
 * (or just a close). The UUID is the call id; audio positions come from the bytes received, as
 * AudioSocket carries no timestamps.
 */
export class AudioSocketServer {
  readonly #ctx: EdgeContext;
  readonly #options: AudioSocketOptions;
  readonly #allow: SourceAllowlist;
  readonly #server: Server;
  readonly #calls = new Map<string, AudioSocketCall>();
  readonly #sockets = new Set<Socket>();
  readonly #counter: ConnectionCounter;

  constructor(ctx: EdgeContext, options: AudioSocketOptions) {
    this.#ctx = ctx;
    this.#options = options;
    this.#allow = new SourceAllowlist(options.allow);
    this.#counter = new ConnectionCounter(options.limits);
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.bind, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as { port: number };
    this.#ctx.log.info({ port, bind: this.#options.bind }, 'AudioSocket listening');
    return port;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#counter.open;
  }

  /** Stops accepting; connections still open (none, after the drain) are cut. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #refuse(socket: Socket, reason: string, log: FastifyBaseLogger, detail?: string): void {
    this.#ctx.metrics.ingress.refused.inc({ ingress: 'audiosocket', reason });
    log.warn({ reason, detail, remote: socket.remoteAddress }, 'AudioSocket connection refused');
    if (!socket.destroyed) socket.end(encodeFrame(KIND.hangup));
  }

  #accept(socket: Socket): void {
    const log = this.#ctx.log.child({ ingress: 'audiosocket', remote: socket.remoteAddress });
    if (!this.#allow.allows(socket.remoteAddress)) {
      this.#refuse(socket, 'source_not_allowed', log);
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? '';
    const full = this.#counter.take(address);
    if (full) {
      this.#ctx.metrics.ingress.refused.inc({ ingress: 'audiosocket', reason: full });
      log.debug({ reason: full }, 'AudioSocket connection refused');
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const connection = new Connection(socket, log, this);
    socket.on('data', (chunk) => {
      // A containment boundary: an unexpected throw ends this connection (and so its leg), nothing else.
      try {
        connection.onData(chunk);
      } catch (err) {
        this.#ctx.metrics.ingress.failures.inc({ ingress: 'audiosocket' });
        log.error({ err }, 'AudioSocket frame handling failed: ending the call');
        connection.failed();
      }
    });
    socket.on('error', (err) => log.debug({ err }, 'AudioSocket connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#counter.release(address);
      connection.onClose();
    });
  }

  /** Called by a connection once it knows its UUID and rate: joins or opens the call. */
  open(uuid: string, rate: number, socket: Socket, log: FastifyBaseLogger): AudioSocketCall | undefined {
    const { pairLegs, mode } = this.#options;
    const { registry, config } = this.#ctx;
    const labels = config.twilio.legLabels;
    let key = uuid;
    let track = 'inbound';
    if (pairLegs) {
      const last = uuid.at(-1);
      if (last !== '0' && last !== '1') {
        this.#refuse(socket, 'bad_uuid', log, 'with AUDIOSOCKET_PAIR_LEGS the UUID must end in 0 or 1');
        return undefined;
      }
      key = `${uuid.slice(0, -1)}0`;
      track = last === '0' ? 'inbound' : 'outbound';
    }
    const existing = this.#calls.get(key);
    if (existing) {
      const call = existing.call as Call;
      const leg = call.legs.get(track);
      if (!leg || existing.legs.has(track) || leg.sampleRate !== rate) {
        const detail = existing.legs.has(track)
          ? `${track} leg already connected`
          : `rate ${rate} ≠ ${leg?.sampleRate}`;
        this.#refuse(socket, 'bad_pairing', log, detail);
        return undefined;
      }
      // This leg starts later than the call: place it where the call clock is now.
      const position = Math.round(((performance.now() - existing.createdAt) * rate) / 1000);
      existing.join({ track, socket, position });
      log.info({ callSid: call.callSid, track }, 'AudioSocket second leg joined');
      return existing;
    }
    const agent = mode === 'agent' && !pairLegs;
    const legs: LegSpec[] = pairLegs
      ? [
          { track: 'inbound', label: labels.inbound, codec: 'l16', sampleRate: rate },
          { track: 'outbound', label: labels.outbound, codec: 'l16', sampleRate: rate },
        ]
      : [{ track: 'inbound', label: labels.inbound, codec: 'l16', sampleRate: rate }];
    const start: CallStart = {
      ingress: 'audiosocket',
      callSid: key,
      streamSid: uuid,
      tracks: legs.map((l) => l.track),
      legs,
      agentLabel: labels.outbound,
      customParameters: {},
      mode: agent ? 'agent' : 'transcribe',
      bidirectional: agent,
    };
    const entry = new AudioSocketCall(key);
    const callLog = this.#ctx.log.child({ callSid: key, ingress: 'audiosocket' });
    const outbound = agent ? audioSocketOutbound(this.#ctx, socket, rate, callLog) : undefined;
    try {
      entry.call = registry.open(start, entry, callLog, outbound);
    } catch (err) {
      outbound?.end();
      if (!isVoxlineError(err)) throw err;
      this.#refuse(socket, err.code, log, err.message);
      return undefined;
    }
    if (outbound) entry.call.scope.defer(() => outbound.end());
    entry.join({ track, socket, position: 0 });
    this.#calls.set(key, entry);
    callLog.info(
      { rate, legs: start.legs.map((l) => l.label), mode: start.mode },
      'AudioSocket call started',
    );
    return entry;
  }

  /** A connection of `entry` closed; the call ends with its last connection. */
  left(entry: AudioSocketCall, reason: string): void {
    if (!entry.leave()) return;
    this.#calls.delete(entry.key);
    void entry.call?.end(reason);
  }

  get handshakeTimeoutMs(): number {
    return this.#ctx.config.media.handshakeTimeoutMs;
  }

  get maxMalformed(): number {
    return this.#ctx.config.media.maxMalformedPerCall;
  }

  countRefused(reason: string): void {
    this.#ctx.metrics.ingress.refused.inc({ ingress: 'audiosocket', reason });
  }

  countMalformed(reason: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
  }
}

/** One TCP connection: UUID, then the first audio frame picks the rate and opens (or joins) the call. */
class Connection {
  readonly #socket: Socket;
  readonly #log: FastifyBaseLogger;
  readonly #server: AudioSocketServer;
  readonly #reader = new FrameReader();
  #uuid: string | undefined;
  #entry: AudioSocketCall | undefined;
  #track = 'inbound';
  #rate = 0;
  #malformed = 0;
  #endReason = 'hangup';
  /** DTMF that came before the first audio frame, replayed once the call is open. */
  readonly #earlyDigits: string[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(socket: Socket, log: FastifyBaseLogger, server: AudioSocketServer) {
    this.#socket = socket;
    this.#log = log;
    this.#server = server;
    this.#timer = setTimeout(() => {
      server.countRefused('handshake_timeout');
      this.#fail(undefined, `no UUID and audio within ${server.handshakeTimeoutMs} ms`);
    }, server.handshakeTimeoutMs);
    this.#timer.unref();
  }

  onData(chunk: Buffer): void {
    for (const frame of this.#reader.push(chunk)) {
      if (this.#socket.destroyed) return;
      this.#frame(frame);
    }
  }

  /** Handling threw: the call (both legs, if paired) hangs up with internal_error. */
  failed(): void {
    this.#endReason = 'internal_error';
    const call = this.#entry?.call;
    if (call) void call.hangUp(1011, 'internal error', 'internal_error');
    this.#socket.destroy();
  }

  onClose(): void {
    clearTimeout(this.#timer);
    if (this.#entry) this.#server.left(this.#entry, this.#endReason);
  }

  #frame(frame: AudioSocketFrame): void {
    const call = this.#entry?.call;
    if (call) call.messages++;
    if (this.#uuid === undefined) {
      if (frame.kind !== KIND.uuid || frame.payload.length !== 16) {
        this.#fail('uuid_expected', `first frame was kind 0x${frame.kind.toString(16)}, not a 16-byte UUID`);
        return;
      }
      this.#uuid = uuidFromBytes(frame.payload);
      return;
    }
    const rate = AUDIO_RATES.get(frame.kind);
    if (rate !== undefined) {
      this.#audio(rate, frame.payload);
      return;
    }
    switch (frame.kind) {
      case KIND.dtmf: {
        const digit = frame.payload.toString('latin1');
        // Digits can be PINs or card numbers: logs say how many and where, never which (nor
        // echo a bad payload, which may be digits too).
        if (!/^[0-9*#A-D]$/.test(digit)) {
          this.#malformedFrame('bad_dtmf', `${frame.payload.length}-byte payload`);
        } else if (call) {
          call.recordDtmf(digit, this.#track);
          call.log.debug({ dtmf: call.dtmf.length, atMs: call.dtmf.at(-1)?.atMs }, 'dtmf');
        } else {
          // Held until the call opens; bounded like the call's own list.
          if (this.#earlyDigits.length < MAX_DTMF_PER_CALL) this.#earlyDigits.push(digit);
        }
        return;
      }
      case KIND.hangup:
        this.#endReason = 'hangup';
        this.#socket.end();
        return;
      case KIND.error:
        this.#endReason = `peer_error_${frame.payload[0] ?? 0}`;
        this.#log.warn({ code: frame.payload[0] }, 'AudioSocket peer reported an error');
        this.#socket.end();
        return;
      case KIND.uuid:
        this.#malformedFrame('duplicate_uuid', 'UUID after the first frame');
        return;
      default:
        this.#malformedFrame('unknown_kind', `kind 0x${frame.kind.toString(16)}`);
    }
  }

  #audio(rate: number, payload: Buffer): void {
    if (!this.#entry) {
      this.#entry = this.#server.open(this.#uuid as string, rate, this.#socket, this.#log);
      if (!this.#entry) {
        this.#socket.destroySoon();
        return;
      }
      clearTimeout(this.#timer);
      this.#rate = rate;
      this.#track =
        [...this.#entry.legs.entries()].find(([, l]) => l.socket === this.#socket)?.[0] ?? 'inbound';
      const call = this.#entry.call as Call;
      for (const digit of this.#earlyDigits.splice(0)) call.recordDtmf(digit, this.#track);
    }
    if (rate !== this.#rate) {
      this.#malformedFrame('rate_changed', `audio at ${rate} Hz on a ${this.#rate} Hz leg`);
      return;
    }
    if (payload.length % 2 !== 0) this.#malformedFrame('odd_audio_length', `${payload.length} bytes`);
    const leg = this.#entry.legs.get(this.#track);
    const target = this.#entry.call?.legs.get(this.#track);
    if (!leg || !target || payload.length < 2) return;
    const pcm = pcmFromLittleEndian(payload);
    target.pushPcm(leg.position, pcm);
    leg.position += pcm.length;
  }

  #malformedFrame(reason: string, detail: string): void {
    this.#server.countMalformed(reason);
    const count = this.#entry?.call ? this.#entry.call.countMalformed(reason) : ++this.#malformed;
    this.#log[count <= LOUD_WARNINGS ? 'warn' : 'debug'](
      { reason, detail, count },
      'malformed AudioSocket frame',
    );
    if (count >= this.#server.maxMalformed) this.#fail('too_many_malformed', `${count} malformed frames`);
  }

  /** `reason`: the malformed-message reason to count, if that is why. */
  #fail(reason: string | undefined, detail: string): void {
    this.#endReason = `protocol_error: ${detail}`;
    if (reason) this.#server.countMalformed(reason);
    this.#log.warn({ reason, detail }, 'closing AudioSocket connection');
    if (!this.#socket.destroyed) this.#socket.end(encodeFrame(KIND.hangup));
    this.#socket.destroySoon();
  }
}
