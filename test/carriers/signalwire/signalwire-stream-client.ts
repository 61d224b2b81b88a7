import { createHmac } from 'node:crypto';
import { WebSocket } from 'ws';
import { type EdgeClosed, whenClosed, whenOpen } from '../stream-edge-harness.js';

/*
 * SignalWire's side of a cXML call, written from its documentation, never from voxline's code:
 * - webhooks (developer.signalwire.com, "Webhook Security"; compatible with Twilio's scheme):
 *   form-encoded POSTs signed with the project's Signing Key: base64(HMAC-SHA1(key, URL +
 *   every form field's name and value, sorted by name)), in X-SignalWire-Signature;
 * - <Stream> (compatibility-api/cxml/voice/stream): `url`, `authBearerToken` (sent as
 *   `Authorization: Bearer <token>` on the WebSocket upgrade), `codec` (`PCMU@8000h` by default,
 *   `L16@16000h`, `L16@24000h`), `track`, `statusCallback`, <Parameter>s;
 * - the WebSocket frames are Twilio Media Streams' (connected, start with mediaFormat, media with
 *   base64 payloads stamped in ms, dtmf, mark, stop; back: media, mark, clear). The L16 byte order
 *   is not documented: this double writes the one it is told (docs/carriers/signalwire.md).
 */

export type Codec = 'PCMU@8000h' | 'L16@16000h' | 'L16@24000h';

/** X-SignalWire-Signature of a form POST to `url`. */
export function signRequest(signingKey: string, url: string, form: Record<string, string>): string {
  const data = Object.keys(form)
    .sort()
    .reduce((acc, key) => acc + key + form[key], url);
  return createHmac('sha1', signingKey).update(data, 'utf8').digest('base64');
}

/** POSTs a signed webhook; returns the status and body. */
export async function postWebhook(
  url: string,
  signingKey: string | undefined,
  form: Record<string, string>,
  signedUrl = url,
): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (signingKey !== undefined) headers['x-signalwire-signature'] = signRequest(signingKey, signedUrl, form);
  const response = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  return { status: response.status, body: await response.text() };
}

/** What SignalWire reads from the cXML: the <Stream>'s attributes and <Parameter>s. */
export interface StreamInstruction {
  readonly url: string;
  readonly authBearerToken: string | undefined;
  readonly codec: Codec;
  readonly connect: boolean;
  readonly parameters: Record<string, string>;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export function readStream(cxml: string): StreamInstruction {
  const tag = /<Stream\b([^>]*)>/.exec(cxml);
  if (!tag) throw new Error(`no <Stream> in ${cxml}`);
  const attributes: Record<string, string> = {};
  for (const [, name, value] of tag[1].matchAll(/(\w+)="([^"]*)"/g)) attributes[name] = unescapeXml(value);
  const parameters: Record<string, string> = {};
  for (const [, body] of cxml.matchAll(/<Parameter\b([^>]*)\/>/g)) {
    const name = /name="([^"]*)"/.exec(body)?.[1];
    const value = /value="([^"]*)"/.exec(body)?.[1];
    if (name !== undefined && value !== undefined) parameters[unescapeXml(name)] = unescapeXml(value);
  }
  return {
    url: attributes.url,
    authBearerToken: attributes.authBearerToken,
    codec: (attributes.codec as Codec | undefined) ?? 'PCMU@8000h',
    connect: /<Connect>/.test(cxml),
    parameters,
  };
}

export interface StreamOptions {
  readonly url: string;
  readonly token?: string;
  readonly codec: Codec;
  /** Byte order of L16 payloads. */
  readonly byteOrder?: 'little' | 'big';
  readonly callSid: string;
  readonly tracks: readonly ('inbound_track' | 'outbound_track')[];
  readonly parameters?: Record<string, string>;
}

const RATES: Record<Codec, number> = { 'PCMU@8000h': 8000, 'L16@16000h': 16000, 'L16@24000h': 24000 };

/** One <Stream>: what SignalWire sends, and what it got back. */
export class SignalWireStream {
  readonly socket: WebSocket;
  readonly closed: Promise<EdgeClosed>;
  readonly options: StreamOptions;
  readonly streamSid: string;
  /** Payloads of `media` sent back, decoded (bytes as received). */
  readonly media: Buffer[] = [];
  readonly marksEchoed: string[] = [];
  clears = 0;
  #sequence = 0;
  #pendingMarks: string[] = [];

  private constructor(socket: WebSocket, options: StreamOptions) {
    this.socket = socket;
    this.options = options;
    this.streamSid = `MZ${options.callSid.slice(2)}`;
    this.closed = whenClosed(socket);
    socket.on('message', (data: Buffer) => {
      let message: { event?: string; media?: { payload?: string }; mark?: { name?: string } } = {};
      try {
        message = JSON.parse(data.toString('utf8'));
      } catch {
        return;
      }
      if (message.event === 'media' && typeof message.media?.payload === 'string') {
        this.media.push(Buffer.from(message.media.payload, 'base64'));
      } else if (message.event === 'mark' && typeof message.mark?.name === 'string') {
        this.#pendingMarks.push(message.mark.name); // echoed once the audio before it has played
      } else if (message.event === 'clear') {
        this.clears++;
        this.media.length = 0; // what was queued is dropped
        this.playOut(); // marks come back at once
      }
    });
  }

  static async open(options: StreamOptions): Promise<SignalWireStream> {
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const stream = new SignalWireStream(new WebSocket(options.url, { headers }), options);
    await whenOpen(stream.socket, stream.closed);
    return stream;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  get rate(): number {
    return RATES[this.options.codec];
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
    this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
  }

  start(): void {
    const pcmu = this.options.codec === 'PCMU@8000h';
    this.send({
      event: 'start',
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      start: {
        accountSid: 'b3877c40-da60-4998-90ad-b792e98472pj',
        callSid: this.options.callSid,
        streamSid: this.streamSid,
        tracks: this.options.tracks,
        customParameters: this.options.parameters ?? {},
        mediaFormat: {
          encoding: pcmu ? 'audio/x-mulaw' : 'audio/x-l16',
          sampleRate: this.rate,
          channels: 1,
        },
      },
    });
  }

  /** One media frame of a track, stamped `timestampMs`. */
  mediaFrame(
    track: 'inbound_track' | 'outbound_track',
    timestampMs: number,
    payload: Uint8Array,
    chunk: number,
  ): void {
    this.send({
      event: 'media',
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      media: {
        track,
        chunk: String(chunk),
        timestamp: String(timestampMs),
        payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64'),
      },
    });
  }

  /** The tracks' audio in 20 ms frames, interleaved by time (μ-law bytes, or samples for L16). */
  async stream(
    audio: Partial<Record<'inbound_track' | 'outbound_track', Uint8Array | Int16Array>>,
    fromMs = 0,
  ) {
    const perFrame = this.rate / 50;
    const length = Math.max(...Object.values(audio).map((a) => a?.length ?? 0));
    let chunk = fromMs / 20;
    for (let at = 0; at < length && this.open; at += perFrame) {
      chunk++;
      for (const track of ['inbound_track', 'outbound_track'] as const) {
        const samples = audio[track];
        if (!samples || at >= samples.length) continue;
        const part = samples.subarray(at, at + perFrame);
        this.mediaFrame(track, fromMs + Math.round((at * 1000) / this.rate), this.#payload(part), chunk);
      }
      if (chunk % 50 === 0) await new Promise((resolve) => setImmediate(resolve)); // let the socket drain
    }
  }

  #payload(part: Uint8Array | Int16Array): Uint8Array {
    if (part instanceof Uint8Array) return part;
    const out = Buffer.alloc(part.length * 2);
    for (let i = 0; i < part.length; i++) {
      if (this.options.byteOrder === 'big') out.writeInt16BE(part[i], 2 * i);
      else out.writeInt16LE(part[i], 2 * i);
    }
    return out;
  }

  dtmf(digit: string): void {
    this.send({
      event: 'dtmf',
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      dtmf: { track: 'inbound_track', digit },
    });
  }

  /** The audio sent back has played: its marks are echoed, in order. */
  playOut(): void {
    for (const name of this.#pendingMarks.splice(0)) {
      this.marksEchoed.push(name);
      this.send({ event: 'mark', sequenceNumber: this.#next(), streamSid: this.streamSid, mark: { name } });
    }
  }

  /** The call hung up: `stop`, and SignalWire closes the socket. */
  async stop(): Promise<EdgeClosed> {
    this.send({
      event: 'stop',
      sequenceNumber: this.#next(),
      streamSid: this.streamSid,
      stop: { accountSid: 'b3877c40-da60-4998-90ad-b792e98472pj', callSid: this.options.callSid },
    });
    return this.closed;
  }

  /** Samples of the L16 media sent back, end to end. */
  receivedPcm(): Int16Array {
    const bytes = Buffer.concat(this.media);
    const out = new Int16Array(bytes.length >> 1);
    for (let i = 0; i < out.length; i++)
      out[i] = this.options.byteOrder === 'big' ? bytes.readInt16BE(2 * i) : bytes.readInt16LE(2 * i);
    return out;
  }
}
