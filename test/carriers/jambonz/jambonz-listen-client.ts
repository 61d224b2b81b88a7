import { WebSocket } from 'ws';
import { type EdgeClosed, streamL16, whenClosed, whenOpen } from '../stream-edge-harness.js';

/*
 * jambonz's side of a `listen` verb, written from its documentation, never from voxline's code
 * (the listen verb's page on docs.jambonz.org; jambonz-feature-server lib/tasks/listen.js;
 * @jambonz/sdk's AudioStream):
 * - the WebSocket offers the sub-protocol `audio.jambonz.org`; wsAuth.username / password go as
 *   HTTP Basic;
 * - the first frame is text: the call's attributes (callSid, callId, from, to, direction,
 *   accountSid, applicationSid, …) with sampleRate and mixType, and the verb's `metadata` fields
 *   merged in at the top level; then binary L16 little-endian frames of 20 ms, stereo
 *   interleaving the caller (ch0) and the callee (ch1);
 * - passDtmf: `{"event":"dtmf","dtmf":"5","duration":…}` text frames;
 * - bidirectionalAudio.streaming: binary L16 back (played in order), `mark` (answered with
 *   `{"type":"mark","data":{"name","event":"playout"}}` once the audio before it has played),
 *   `killAudio` (the buffered audio dropped), `clearMarks`.
 */

export interface ListenOptions {
  readonly url: string;
  readonly sampleRate: number;
  readonly mixType: 'mono' | 'stereo' | 'mixed';
  /** The call's attributes and the verb's metadata (undefined: no first frame sent). */
  readonly metadata?: Record<string, unknown> | string;
  readonly wsAuth?: { readonly username: string; readonly password: string };
  readonly headers?: Record<string, string>;
}

export class JambonzListen {
  readonly socket: WebSocket;
  readonly closed: Promise<EdgeClosed>;
  readonly options: ListenOptions;
  /** Binary audio received back, in order (dropped by killAudio). */
  readonly played: Buffer[] = [];
  readonly marksReported: string[] = [];
  kills = 0;
  clearMarks = 0;
  readonly other: string[] = [];
  #pendingMarks: string[] = [];

  private constructor(socket: WebSocket, options: ListenOptions) {
    this.socket = socket;
    this.options = options;
    this.closed = whenClosed(socket);
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.played.push(Buffer.from(data));
        return;
      }
      const text = data.toString('utf8');
      let message: { type?: string; data?: { name?: unknown } } = {};
      try {
        message = JSON.parse(text);
      } catch {}
      if (message.type === 'mark' && typeof message.data?.name === 'string')
        this.#pendingMarks.push(message.data.name);
      else if (message.type === 'killAudio') {
        this.kills++;
        this.played.length = 0;
      } else if (message.type === 'clearMarks') {
        this.clearMarks++;
        this.#report('cleared');
      } else this.other.push(text);
    });
  }

  static async open(options: ListenOptions): Promise<JambonzListen> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.wsAuth) {
      const { username, password } = options.wsAuth;
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    const listen = new JambonzListen(new WebSocket(options.url, ['audio.jambonz.org'], { headers }), options);
    await whenOpen(listen.socket, listen.closed);
    if (listen.open && options.metadata !== undefined) {
      listen.socket.send(
        typeof options.metadata === 'string'
          ? options.metadata
          : JSON.stringify({ ...options.metadata, sampleRate: options.sampleRate, mixType: options.mixType }),
      );
    }
    return listen;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    if (this.open) this.socket.send(data, { binary });
  }

  dtmf(digit: string, duration = 960): void {
    this.sendRaw(JSON.stringify({ event: 'dtmf', dtmf: digit, duration }), false);
  }

  /** Streams the channels (one, or caller and callee when stereo) in 20 ms frames of L16 little-endian. */
  async stream(channels: readonly Int16Array[]): Promise<number> {
    return streamL16(this.socket, channels, this.options.sampleRate / 50);
  }

  /** The audio received so far has played out: its marks are reported. */
  playOut(): void {
    this.#report('playout');
  }

  #report(event: 'playout' | 'cleared'): void {
    for (const name of this.#pendingMarks.splice(0)) {
      this.marksReported.push(name);
      this.sendRaw(JSON.stringify({ type: 'mark', data: { name, event } }), false);
    }
  }

  /** What was played back, samples end to end. */
  playedPcm(): Int16Array {
    const bytes = Buffer.concat(this.played);
    const out = new Int16Array(bytes.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
    return out;
  }

  /** The listen ends (hang-up, maxLength): jambonz closes the socket; there is no stop message. */
  async stop(): Promise<EdgeClosed> {
    if (this.open) this.socket.close(1000);
    return this.closed;
  }
}
