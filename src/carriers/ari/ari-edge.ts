import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { FastifyBaseLogger } from 'fastify';
import type { Call } from '../../calls/call.js';
import type { Clock } from '../../clock.js';
import { isVoxlineError } from '../../errors.js';
import type { CallStart, CallTransport, LegSpec } from '../carrier.js';
import type { EdgeContext } from '../edge-context.js';
import { PacedOutbound } from '../paced-outbound.js';
import { parseRtp } from '../sip/rtp.js';
import { AriClient } from './ari-client.js';
import type { AriOptions } from './ari-config.js';
import { AriRtpStream, FORMAT_RATE } from './ari-rtp.js';
import { type AriMade, type AriRemote, enc, OWN_PREFIX, setUpAriMedia } from './ari-setup.js';

const CODEC = { ulaw: 'pcmu', alaw: 'pcma', slin16: 'l16' } as const;
const DIGIT = /^[0-9*#A-D]$/;

interface Channel {
  readonly id: string;
  readonly name: string;
  readonly callerNumber?: string;
}

/** One caller channel in the app, and what voxline made for it. */
class AriCall implements CallTransport, AriMade {
  readonly channelId: string;
  readonly createdAt: number;
  /** Bridges and channels voxline created, deleted when the call ends. */
  readonly bridges: string[] = [];
  readonly channels: string[] = [];
  readonly streams: AriRtpStream[] = [];
  call: Call | undefined;
  ended = false;
  readonly #edge: AriEdge;

  constructor(edge: AriEdge, channelId: string, createdAt: number) {
    this.#edge = edge;
    this.channelId = channelId;
    this.createdAt = createdAt;
  }

  close(_code: number, reason: string): void {
    this.call?.log.info({ reason }, 'ARI call closed by voxline: hanging up');
    this.#edge.release(this, true);
  }

  mediaStats(): readonly object[] {
    return this.streams.map((s) => ({ remote: s.source, packets: s.packets }));
  }
}

/**
 * Asterisk ARI with externalMedia over plain RTP. A caller's channel entering the Stasis app
 * becomes a call: voxline bridges it with an externalMedia channel (or, legs separate, snoops
 * spy=in and spy=out with one externalMedia each; the REST steps are in ari-setup.ts) that sends
 * RTP to one UDP socket; each stream is known by its source, Asterisk's
 * UNICASTRTP_LOCAL_ADDRESS:PORT. The edge routes each datagram to its stream and owns the call's
 * life: when it ends, everything set-up made is deleted, also what set-up made after that.
 * Every event, reply and datagram is a containment boundary: the worst it does is end its own call.
 */
export class AriEdge {
  readonly #ctx: EdgeContext;
  readonly #options: AriOptions;
  readonly #client: AriClient;
  readonly #log: FastifyBaseLogger;
  readonly #socket: Socket;
  readonly #calls = new Map<string, AriCall>();
  /** `address:port` → stream. */
  readonly #streams = new Map<string, AriRtpStream>();
  #port = 0;

  constructor(ctx: EdgeContext, options: AriOptions, clock: Clock) {
    this.#ctx = ctx;
    this.#options = options;
    this.#log = ctx.log.child({ ingress: 'ari' });
    this.#client = new AriClient(options, clock, this.#log);
    this.#socket = createSocket({ type: options.rtpHost.includes(':') ? 'udp6' : 'udp4' });
    this.#socket.on('message', (data, from) => this.#onDatagram(data, from));
    this.#socket.on('error', (err) => this.#log.warn({ err }, 'ARI RTP socket error'));
  }

  /** Binds the RTP socket and subscribes to the app's events; resolves with the RTP port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(this.#options.rtpPort, this.#options.rtpHost, () => {
        this.#socket.off('error', reject);
        resolve();
      });
    });
    this.#port = this.#socket.address().port;
    this.#client.connect(
      (event) => this.#onEvent(event),
      () => this.#malformed('ari_event'),
    );
    this.#log.info({ rtpPort: this.#port, app: this.#options.app }, 'ARI edge listening');
    return this.#port;
  }

  get calls(): number {
    return this.#calls.size;
  }

  async close(): Promise<void> {
    for (const entry of [...this.#calls.values()]) this.release(entry, true);
    this.#client.close();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #malformed(reason: string): void {
    this.#ctx.metrics.malformedMessages.inc({ reason });
  }

  #refused(reason: string): void {
    this.#ctx.metrics.ingress.refused.inc({ ingress: 'ari', reason });
  }

  #onEvent(event: Record<string, unknown>): void {
    try {
      const channel = channelOf(event.channel);
      if (!channel) {
        if (typeof event.type !== 'string') this.#malformed('ari_event');
        return;
      }
      switch (event.type) {
        case 'StasisStart':
          if (channel.id.startsWith(OWN_PREFIX)) return;
          void this.#start(channel);
          return;
        case 'StasisEnd':
        case 'ChannelDestroyed':
        case 'ChannelHangupRequest': {
          const entry = this.#calls.get(channel.id);
          if (entry) this.#ended(entry, 'hangup');
          return;
        }
        case 'ChannelDtmfReceived': {
          const entry = this.#calls.get(channel.id);
          const digit = event.digit;
          if (!entry?.call) return;
          if (typeof digit === 'string' && DIGIT.test(digit)) entry.call.recordDtmf(digit, 'inbound');
          else this.#malformed('ari_dtmf');
          return;
        }
        default:
          return;
      }
    } catch (err) {
      this.#ctx.metrics.ingress.failures.inc({ ingress: 'ari' });
      this.#log.error({ err, type: event.type }, 'ARI event handling failed');
    }
  }

  async #start(channel: Channel): Promise<void> {
    if (this.#calls.has(channel.id)) return;
    if (this.#calls.size >= this.#options.maxCalls) {
      this.#refused('max_calls');
      this.#log.warn({ channel: channel.id }, 'ARI call refused: ARI_MAX_CALLS reached');
      return;
    }
    const entry = new AriCall(this, channel.id, performance.now());
    this.#calls.set(channel.id, entry);
    const log = this.#log.child({ callSid: channel.id });
    try {
      const externalHost = hostPort(this.#options.rtpHost, this.#port);
      const remotes = await setUpAriMedia(this.#client, this.#options, externalHost, channel.id, entry);
      // The caller may have hung up while voxline was setting up: then no call opens.
      if (!entry.ended) this.#open(entry, channel, remotes, log);
    } catch (err) {
      if (!entry.ended) {
        this.#ctx.metrics.ingress.failures.inc({ ingress: 'ari' });
        log.error({ err }, 'ARI call set-up failed: hanging up');
      }
      this.release(entry, true);
    }
    // The caller may hang up while set-up awaits Asterisk: what was made after that goes too.
    if (entry.ended) this.#deleteMade(entry);
  }

  #open(entry: AriCall, channel: Channel, remotes: readonly AriRemote[], log: FastifyBaseLogger): void {
    const { format, mode } = this.#options;
    const labels = this.#ctx.legs;
    const rate = FORMAT_RATE[format];
    const legs: LegSpec[] = remotes.map((r) => ({
      track: r.track,
      label: r.track === 'inbound' ? labels.inbound : labels.outbound,
      codec: CODEC[format],
      sampleRate: rate,
    }));
    const agent = mode === 'agent' && remotes.length === 1;
    const start: CallStart = {
      ingress: 'ari',
      callSid: channel.id,
      streamSid: remotes[0]?.channelId ?? channel.id,
      tracks: legs.map((l) => l.track),
      legs,
      participants: channel.callerNumber ? [{ role: 'caller', address: channel.callerNumber }] : [],
      agentLabel: labels.outbound,
      customParameters: { channelName: channel.name },
      mode: agent ? 'agent' : 'transcribe',
      bidirectional: agent,
    };
    const callLog = this.#ctx.log.child({ callSid: channel.id, ingress: 'ari' });
    let send: ((frame: Int16Array) => void) | undefined;
    const outbound = agent
      ? new PacedOutbound(
          this.#ctx.clock,
          (frame) => {
            if (frame) send?.(frame);
          },
          (err) => {
            this.#ctx.metrics.ingress.failures.inc({ ingress: 'ari' });
            callLog.error({ err }, 'ARI audio out failed: ending the call');
            this.release(entry, true);
            void entry.call?.end('error');
          },
        )
      : undefined;
    try {
      entry.call = this.#ctx.registry.open(start, entry, callLog, outbound);
    } catch (err) {
      outbound?.end();
      if (!isVoxlineError(err)) throw err;
      this.#refused(err.code);
      log.warn({ reason: err.code, detail: err.message }, 'ARI call refused');
      this.release(entry, true);
      return;
    }
    if (outbound) entry.call.scope.defer(() => outbound.end());
    for (const r of remotes) {
      const leg = entry.call.legs.get(r.track);
      if (!leg) continue;
      // Every stream is set up before the call opens, so each starts its leg's timeline.
      const stream = new AriRtpStream(`${r.address}:${r.port}`, leg, format, 0);
      entry.streams.push(stream);
      this.#streams.set(stream.source, stream);
      if (agent) send = stream.sender(this.#socket, r.address, r.port);
    }
    callLog.info({ legs: legs.map((l) => l.label), mode: start.mode, format }, 'ARI call started');
  }

  #onDatagram(data: Buffer, from: RemoteInfo): void {
    const stream = this.#streams.get(`${from.address}:${from.port}`);
    if (!stream) {
      this.#refused('unknown_rtp_source');
      return;
    }
    try {
      const packet = parseRtp(data);
      const refused = packet ? stream.receive(packet) : 'not_rtp';
      if (refused) this.#refused(refused);
    } catch (err) {
      this.#ctx.metrics.ingress.failures.inc({ ingress: 'ari' });
      this.#log.error({ err, source: stream.source }, 'ARI RTP handling failed: packet dropped');
    }
  }

  /** Asterisk says the caller's channel has gone: the call ends, voxline's leftovers are deleted. */
  #ended(entry: AriCall, reason: string): void {
    this.release(entry, false);
    void entry.call?.end(reason);
  }

  /** Forgets the call and deletes what voxline created (and, `hangUp`, the caller's channel). */
  release(entry: AriCall, hangUp: boolean): void {
    if (entry.ended) return;
    entry.ended = true;
    this.#calls.delete(entry.channelId);
    for (const s of entry.streams) this.#streams.delete(s.source);
    this.#deleteMade(entry);
    if (hangUp) this.#delete(`/channels/${enc(entry.channelId)}`);
  }

  /** Deletes the channels and bridges voxline made for the call, each once. */
  #deleteMade(entry: AriCall): void {
    for (const id of entry.channels.splice(0)) this.#delete(`/channels/${enc(id)}`);
    for (const id of entry.bridges.splice(0)) this.#delete(`/bridges/${enc(id)}`);
  }

  #delete(path: string): void {
    this.#client.request('DELETE', path).catch((err: unknown) => {
      this.#log.debug({ err, path }, 'ARI clean-up request failed');
    });
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function channelOf(value: unknown): Channel | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, name, caller } = value as { id?: unknown; name?: unknown; caller?: unknown };
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) return undefined;
  const number = (caller as { number?: unknown } | null | undefined)?.number;
  return {
    id,
    name: typeof name === 'string' ? name.slice(0, 256) : '',
    ...(typeof number === 'string' && number ? { callerNumber: number.slice(0, 64) } : {}),
  };
}
