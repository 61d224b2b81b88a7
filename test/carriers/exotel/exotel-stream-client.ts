import { WebSocket } from 'ws';
import { type EdgeClosed, whenClosed, whenOpen } from '../stream-edge-harness.js';

/*
 * Exotel's side of a Voicebot / Stream applet WebSocket, written from Exotel's docs
 * (developer.exotel.com/docs/agentstream/stream-voicebot-applet, .../websocket-protocol), never
 * from voxline's code: Basic auth from the URL's user:pass; JSON text frames connected, start
 * (stream_sid, call_sid, account_sid, from, to, custom_parameters, media_format with string
 * numbers), media (chunk, timestamp, base64 16-bit LE mono PCM at 8 kHz), dtmf, mark, stop; back:
 * media {stream_sid, media.payload}, mark, clear. See docs/carriers/exotel.md.
 */

export class ExotelStream {
  readonly socket: WebSocket;
  readonly closed: Promise<EdgeClosed>;
  readonly callSid: string;
  readonly streamSid: string;
  readonly media: Buffer[] = [];
  readonly marksEchoed: string[] = [];
  clears = 0;
  #sequence = 0;
  #chunk = 0;
  #pendingMarks: string[] = [];

  private constructor(socket: WebSocket, callSid: string) {
    this.socket = socket;
    this.callSid = callSid;
    this.streamSid = `MZ${callSid}`;
    this.closed = whenClosed(socket);
    socket.on('message', (data: Buffer) => {
      let m: { event?: string; stream_sid?: string; media?: { payload?: string }; mark?: { name?: string } } =
        {};
      try {
        m = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      if (m.event === 'media' && typeof m.media?.payload === 'string') {
        this.media.push(Buffer.from(m.media.payload, 'base64'));
      } else if (m.event === 'mark' && typeof m.mark?.name === 'string') {
        this.#pendingMarks.push(m.mark.name);
      } else if (m.event === 'clear') {
        this.clears++;
        this.media.length = 0;
        this.playOut();
      }
    });
  }

  /** `url` may carry user:pass (Exotel sends it as Authorization: Basic). */
  static async open(url: string, callSid: string): Promise<ExotelStream> {
    const parsed = new URL(url);
    const headers: Record<string, string> = {};
    if (parsed.username || parsed.password) {
      const creds = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
      headers.authorization = `Basic ${Buffer.from(creds).toString('base64')}`;
      parsed.username = '';
      parsed.password = '';
    }
    const stream = new ExotelStream(new WebSocket(parsed.toString(), { headers }), callSid);
    await whenOpen(stream.socket, stream.closed);
    return stream;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: Record<string, unknown>): void {
    if (this.open) this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    if (this.open) this.socket.send(data, { binary });
  }

  #next(): string {
    return String(++this.#sequence);
  }

  connected(): void {
    this.send({ event: 'connected' });
  }

  start(customParameters: Record<string, string> = {}): void {
    this.send({
      event: 'start',
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      start: {
        stream_sid: this.streamSid,
        call_sid: this.callSid,
        account_sid: 'exotel-account',
        from: '+919876543210',
        to: '+918047491899',
        custom_parameters: customParameters,
        media_format: { encoding: 'raw/slin', sample_rate: '8000', bit_rate: '16' },
      },
    });
  }

  /** 8 kHz PCM as 100 ms media frames (Exotel's cadence). */
  stream(pcm: Int16Array): void {
    for (let at = 0; at < pcm.length; at += 800) {
      const part = pcm.subarray(at, at + 800);
      const bytes = Buffer.alloc(part.length * 2);
      for (let i = 0; i < part.length; i++) bytes.writeInt16LE(part[i], 2 * i);
      this.send({
        event: 'media',
        sequence_number: this.#next(),
        stream_sid: this.streamSid,
        media: {
          chunk: String(++this.#chunk),
          timestamp: String(this.#chunk * 100),
          payload: bytes.toString('base64'),
        },
      });
    }
  }

  dtmf(digit: string): void {
    this.send({
      event: 'dtmf',
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      dtmf: { digit, duration: '100' },
    });
  }

  /** The audio sent back has played: the marks waiting are echoed. */
  playOut(): void {
    for (const name of this.#pendingMarks.splice(0)) {
      this.marksEchoed.push(name);
      this.send({ event: 'mark', sequence_number: this.#next(), stream_sid: this.streamSid, mark: { name } });
    }
  }

  async stop(): Promise<EdgeClosed> {
    this.send({
      event: 'stop',
      sequence_number: this.#next(),
      stream_sid: this.streamSid,
      stop: { reason: 'callended' },
    });
    return this.closed;
  }

  /** The audio sent back as 8 kHz samples. */
  receivedPcm(): Int16Array {
    const all = Buffer.concat(this.media);
    const out = new Int16Array(all.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = all.readInt16LE(2 * i);
    return out;
  }
}
