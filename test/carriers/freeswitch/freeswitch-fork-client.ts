import { WebSocket } from 'ws';
import { type EdgeClosed, streamL16, whenClosed, whenOpen } from '../stream-edge-harness.js';

/*
 * FreeSWITCH's side of a media fork, written from the modules' documentation, never from
 * voxline's code:
 * - mod_audio_stream (amigniter/mod_audio_stream README): `uuid_audio_stream <uuid> start <url>
 *   <mono|mixed|stereo> <8k|16k> [metadata]`: the metadata (optional) goes first as one text
 *   frame, then L16 little-endian in binary frames of 20 ms (STREAM_BUFFER_SIZE: N × 20 ms);
 *   extra handshake headers from STREAM_EXTRA_HEADERS (JSON); `send_text` sends more text; back,
 *   `{"type":"streamAudio","data":{"audioDataType","sampleRate","audioData"}}` is played (raised
 *   as mod_audio_stream::play), any other text is raised as mod_audio_stream::json.
 * - mod_audio_fork (drachtio; README in srthorat/freeswitch-speech-ai): sub-protocol
 *   `audio.drachtio.org`; Basic auth from MOD_AUDIO_BASIC_AUTH_USERNAME/PASSWORD; one text frame
 *   (metadata), then L16, `stereo` interleaving caller (ch0) and callee (ch1); back, `playAudio`
 *   (`audioContentType`, `sampleRate`, `audioContent`) and `killAudio`.
 */

export type Module = 'mod_audio_stream' | 'mod_audio_fork';

export interface ForkOptions {
  readonly url: string;
  readonly module: Module;
  readonly rate: 8000 | 16000;
  readonly channels?: 1 | 2;
  /** The command's metadata argument (mod_audio_stream: optional). */
  readonly metadata?: string;
  /** STREAM_EXTRA_HEADERS (mod_audio_stream). */
  readonly headers?: Record<string, string>;
  /** MOD_AUDIO_BASIC_AUTH_USERNAME / _PASSWORD (mod_audio_fork). */
  readonly basic?: { readonly username: string; readonly password: string };
  /** MOD_AUDIO_FORK_SUBPROTOCOL_NAME (default audio.drachtio.org). */
  readonly protocol?: string;
  /** STREAM_BUFFER_SIZE in ms (default 20). */
  readonly bufferMs?: number;
}

/** A play request as the module would write it to a file: the samples, decoded, at `sampleRate`. */
export interface Played {
  readonly sampleRate: number;
  readonly pcm: Int16Array;
}

export class FreeSwitchFork {
  readonly socket: WebSocket;
  readonly closed: Promise<EdgeClosed>;
  readonly options: ForkOptions;
  readonly received = { plays: [] as Played[], kills: 0, events: [] as string[] };

  private constructor(socket: WebSocket, options: ForkOptions) {
    this.socket = socket;
    this.options = options;
    this.closed = whenClosed(socket);
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) return; // neither module takes binary back (jambonz's fork does; not these)
      const text = data.toString('utf8');
      let message: { type?: string; data?: Record<string, unknown> } = {};
      try {
        message = JSON.parse(text);
      } catch {}
      const playType = options.module === 'mod_audio_fork' ? 'playAudio' : 'streamAudio';
      const [typeKey, audioKey] =
        options.module === 'mod_audio_fork'
          ? ['audioContentType', 'audioContent']
          : ['audioDataType', 'audioData'];
      if (message.type === playType && message.data?.[typeKey] === 'raw') {
        const bytes = Buffer.from(String(message.data[audioKey]), 'base64');
        const pcm = new Int16Array(bytes.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = bytes.readInt16LE(2 * i);
        this.received.plays.push({ sampleRate: Number(message.data.sampleRate), pcm });
      } else if (message.type === 'killAudio' && options.module === 'mod_audio_fork') {
        this.received.kills++;
      } else {
        this.received.events.push(text); // raised as <module>::json for the application
      }
    });
  }

  /** Runs the start command: connects, then sends the metadata (if any) as the first frame. */
  static async open(options: ForkOptions): Promise<FreeSwitchFork> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.basic) {
      const { username, password } = options.basic;
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    const protocols =
      options.module === 'mod_audio_fork' ? [options.protocol ?? 'audio.drachtio.org'] : undefined;
    const fork = new FreeSwitchFork(new WebSocket(options.url, protocols, { headers }), options);
    await whenOpen(fork.socket, fork.closed);
    if (fork.open && options.metadata !== undefined) fork.socket.send(options.metadata);
    return fork;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  /** `uuid_audio_stream|fork <uuid> send_text <text>`. */
  sendText(text: string): void {
    if (this.open) this.socket.send(text);
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    if (this.open) this.socket.send(data, { binary });
  }

  /**
   * Streams the channels (one, or caller and callee for stereo) as the module does: frames of
   * `bufferMs`, L16 little-endian, interleaved when stereo. Returns the frames sent.
   */
  async stream(channels: readonly Int16Array[]): Promise<number> {
    return streamL16(this.socket, channels, (this.options.rate / 1000) * (this.options.bufferMs ?? 20));
  }

  /** What the module was asked to play, samples end to end. */
  playedPcm(): Int16Array {
    const total = this.received.plays.reduce((n, p) => n + p.pcm.length, 0);
    const out = new Int16Array(total);
    let at = 0;
    for (const play of this.received.plays) {
      out.set(play.pcm, at);
      at += play.pcm.length;
    }
    return out;
  }

  /** `uuid_audio_stream|fork <uuid> stop`: the module closes the socket (it sends no stop message). */
  async stop(): Promise<EdgeClosed> {
    if (this.open) this.socket.close(1000);
    return this.closed;
  }
}
