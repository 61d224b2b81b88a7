import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { type EdgeClosed, whenClosed, whenOpen } from '../stream-edge-harness.js';

/*
 * Asterisk's side of a chan_websocket call that connects out to an application
 * (`Dial(WebSocket/<client>/c(<format>))` with a websocket_client.conf entry: `uri`,
 * `protocols = media`, `username`, `password` as HTTP Basic), written from Asterisk's
 * documentation (docs/Configuration/Channel-Drivers/WebSocket.md) and channels/chan_websocket.c,
 * never from voxline's code:
 * - right after the upgrade a TEXT `MEDIA_START` (plain `MEDIA_START connection_id:… channel:…
 *   channel_id:… format:… optimal_frame_size:… ptime:…`, or the JSON event with
 *   `channel_variables`), then BINARY frames of raw codec bytes, 20 ms each; `DTMF_END digit:5`;
 * - what the application sends goes on a frame queue that the channel plays one frame per 20 ms
 *   (`playOut` here, driven by the test): whole `optimal_frame_size` frames, a leftover dropped;
 *   `MARK_MEDIA id` is queued too and answered `MEDIA_MARK_PROCESSED id` when it reaches the
 *   front; `FLUSH_MEDIA` drops the queue (marks with it); `MEDIA_XOFF` at 900 queued frames,
 *   `MEDIA_XON` below 800; more than 1000 queued: frames dropped; `HANGUP`: the channel hangs up
 *   and the socket closes; a message over 65,500 bytes closes the socket.
 */

export interface AsteriskOptions {
  readonly url: string;
  readonly format: 'ulaw' | 'alaw' | 'slin' | 'slin16' | string;
  readonly control?: 'plain' | 'json';
  readonly username?: string;
  readonly password?: string;
  /** websocket_client.conf `protocols` (default media). */
  readonly protocols?: string[];
  readonly channelId?: string;
  readonly variables?: Record<string, string>;
  /** Send MEDIA_START on connect (default true). */
  readonly start?: boolean;
}

const QUEUE_MAX = 1000;
const XOFF_LEVEL = 900;
const XON_LEVEL = 800;
const MAX_MESSAGE = 65_500;

type Queued = { readonly frame: Buffer } | { readonly mark: string };

export class AsteriskChannel {
  readonly socket: WebSocket;
  readonly closed: Promise<EdgeClosed>;
  readonly options: AsteriskOptions;
  readonly connectionId = randomUUID();
  readonly frameSize: number;
  /** What the channel played (frames that reached the core), and the commands it got. */
  readonly played: Buffer[] = [];
  readonly commands: string[] = [];
  readonly queue: Queued[] = [];
  droppedFrames = 0;
  leftoverDropped = 0;
  hungUp = false;
  #queueFull = false;

  private constructor(socket: WebSocket, options: AsteriskOptions) {
    this.socket = socket;
    this.options = options;
    const bytesPer20ms: Record<string, number> = { ulaw: 160, alaw: 160, slin: 320, slin16: 640 };
    this.frameSize = bytesPer20ms[options.format] ?? 160;
    this.closed = whenClosed(socket);
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.#media(data);
      else this.#command(data.toString('utf8').trim());
    });
  }

  static async connect(options: AsteriskOptions): Promise<AsteriskChannel> {
    const headers: Record<string, string> = {};
    if (options.username !== undefined || options.password !== undefined) {
      const credentials = `${options.username ?? ''}:${options.password ?? ''}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    const socket = new WebSocket(options.url, options.protocols ?? ['media'], { headers });
    const channel = new AsteriskChannel(socket, options);
    await whenOpen(socket, channel.closed);
    if (channel.open && options.start !== false) channel.sendText(channel.mediaStart());
    return channel;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  get channelId(): string {
    return this.options.channelId ?? '1760000000.42';
  }

  mediaStart(): string {
    const fields = {
      connection_id: this.connectionId,
      channel: `WebSocket/voxline/0x7f00000${this.channelId.slice(-2)}`,
      channel_id: this.channelId,
      format: this.options.format,
      optimal_frame_size: this.frameSize,
      ptime: 20,
    };
    if (this.options.control === 'json')
      return JSON.stringify({
        event: 'MEDIA_START',
        ...fields,
        channel_variables: this.options.variables ?? {},
      });
    return `MEDIA_START ${Object.entries(fields)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')}`;
  }

  sendText(text: string): void {
    if (this.open) this.socket.send(text);
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    if (this.open) this.socket.send(data, { binary });
  }

  /** A key press: DTMF_END from the core. */
  dtmf(digit: string): void {
    this.sendText(
      this.options.control === 'json'
        ? JSON.stringify({ event: 'DTMF_END', channel_id: this.channelId, digit })
        : `DTMF_END digit:${digit} channel_id:${this.channelId}`,
    );
  }

  /** The channel's audio, raw codec bytes, one 20 ms frame a message. */
  async stream(bytes: Uint8Array): Promise<number> {
    let frames = 0;
    for (let at = 0; at < bytes.length && this.open; at += this.frameSize) {
      this.socket.send(bytes.subarray(at, at + this.frameSize), { binary: true });
      if (++frames % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return frames;
  }

  /** The channel's timer firing `frames` times: one queued frame to the core each. */
  playOut(frames: number): void {
    for (let i = 0; i < frames; i++) {
      if (this.#queueFull && this.#length() < XON_LEVEL) {
        this.#queueFull = false;
        this.#event('MEDIA_XON');
      }
      // Marks reached at the front are reported before the next frame (they use no timeslot).
      while (this.queue.length > 0 && 'mark' in this.queue[0])
        this.#markProcessed(this.queue.shift() as { mark: string });
      const head = this.queue.shift();
      if (head && 'frame' in head) this.played.push(head.frame);
      while (this.queue.length > 0 && 'mark' in this.queue[0])
        this.#markProcessed(this.queue.shift() as { mark: string });
    }
  }

  playedBytes(): Buffer {
    return Buffer.concat(this.played);
  }

  /** The channel hangs up: Asterisk closes the socket. */
  async hangUp(): Promise<EdgeClosed> {
    if (this.open) this.socket.close(1000);
    return this.closed;
  }

  #length(): number {
    return this.queue.filter((q) => 'frame' in q).length;
  }

  #media(data: Buffer): void {
    if (data.length > MAX_MESSAGE) {
      this.socket.close(1009);
      return;
    }
    if (this.#length() >= QUEUE_MAX) {
      this.droppedFrames += Math.floor(data.length / this.frameSize);
      return;
    }
    const whole = data.length - (data.length % this.frameSize);
    this.leftoverDropped += data.length - whole;
    for (let at = 0; at < whole; at += this.frameSize) {
      this.queue.push({ frame: Buffer.from(data.subarray(at, at + this.frameSize)) });
      if (!this.#queueFull && this.#length() >= XOFF_LEVEL) {
        this.#queueFull = true;
        this.#event('MEDIA_XOFF');
      }
    }
  }

  #command(text: string): void {
    let command = text;
    let id: string | undefined;
    if (this.options.control === 'json') {
      const message = JSON.parse(text) as { command: string; correlation_id?: string };
      command = message.command;
      id = message.correlation_id;
    } else {
      const space = text.indexOf(' ');
      if (space > 0) {
        command = text.slice(0, space);
        id = text.slice(space + 1);
      }
    }
    this.commands.push(command);
    if (command === 'MARK_MEDIA') this.queue.push({ mark: id ?? '' });
    else if (command === 'FLUSH_MEDIA') this.queue.length = 0;
    else if (command === 'HANGUP') {
      this.hungUp = true;
      this.socket.close(1000);
    }
  }

  #markProcessed(mark: { mark: string }): void {
    if (this.options.control === 'json')
      this.sendText(
        JSON.stringify({
          event: 'MEDIA_MARK_PROCESSED',
          channel_id: this.channelId,
          correlation_id: mark.mark,
        }),
      );
    else this.sendText(mark.mark ? `MEDIA_MARK_PROCESSED ${mark.mark}` : 'MEDIA_MARK_PROCESSED');
  }

  #event(name: string): void {
    this.sendText(
      this.options.control === 'json' ? JSON.stringify({ event: name, channel_id: this.channelId }) : name,
    );
  }
}

/** G.711 A-law to linear, decoded here (ITU-T G.711), not with voxline's codec (μ-law: mulawTo8k). */
export function alawToLinear(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const a = bytes[i] ^ 0x55;
    const segment = (a & 0x70) >> 4;
    let magnitude = (a & 0x0f) << 4;
    magnitude += segment === 0 ? 8 : 0x108;
    if (segment > 1) magnitude <<= segment - 1;
    out[i] = a & 0x80 ? magnitude : -magnitude;
  }
  return out;
}

export function slinToLinear(bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
  return out;
}

export function linearToSlin(pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], 2 * i);
  return out;
}
