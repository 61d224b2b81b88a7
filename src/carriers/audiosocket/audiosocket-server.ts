import { createServer, type Server, type Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../../calls/call.js';
import { isVoxlineError } from '../../errors.js';
import type { CallStart, LegSpec } from '../carrier.js';
import { ConnectionCounter } from '../connection-limits.js';
import type { EdgeContext } from '../edge-context.js';
import { SourceAllowlist } from '../source-allowlist.js';
import { AudioSocketCall, audioSocketOutbound } from './audiosocket-call.js';
import type { AudioSocketOptions } from './audiosocket-config.js';
import { Connection, type ConnectionHost } from './audiosocket-connection.js';
import { encodeFrame, KIND } from './frames.js';

/**
 * Asterisk AudioSocket over TCP (Asterisk connects to us). First frame: the UUID; then signed
 * linear audio at 8–192 kHz (the first audio frame's kind fixes the leg's rate), DTMF, and hangup
 * (or just a close). The UUID is the call id; audio positions come from the bytes received, as
 * AudioSocket carries no timestamps.
 */
export class AudioSocketServer implements ConnectionHost {
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
    log.warn({ reason, detail }, 'AudioSocket connection refused'); // the logger carries remote
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
    const { registry, legs: labels } = this.#ctx;
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
    return this.#ctx.media.handshakeTimeoutMs;
  }

  get maxMalformed(): number {
    return this.#ctx.media.maxMalformedPerCall;
  }

  countRefused(reason: string): void {
    this.#ctx.metrics.ingress.refused.inc({ ingress: 'audiosocket', reason });
  }

  countMalformed(reason: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
  }
}
