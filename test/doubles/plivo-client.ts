import { createHmac, randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

/*
 * Plivo, as a voxline peer sees it, written from Plivo's documentation (never from voxline's code):
 * - the answer URL: a form POST signed with X-Plivo-Signature-V3 (the algorithm of Plivo's SDKs:
 *   plivo-node lib/utils/v3Security.js), answered with Plivo XML holding a <Stream>;
 * - the audio stream (plivo.com/docs/voice/audio-streaming/audio-streaming): `start`, then `media`
 *   per 20 ms per track stamped with Unix ms, `dtmf`; for a bidirectional stream it plays
 *   `playAudio` at real time, answers `checkpoint` with `playedStream` once the audio before it
 *   has played (not at all if a `clearAudio` dropped it) and `clearAudio` with `clearedAudio`.
 * The stream ends by closing the socket, as Plivo's does.
 */

export const PLIVO_ACCOUNT = 'MAZDQ1ZJIYMDZKMTEXAA';
const FRAME_BYTES = 160; // 20 ms of μ-law at 8 kHz

/** Plivo's V3 signature over a POST of `params` to `url` (the SDKs' construct_post_url). */
export function signV3(
  authToken: string,
  url: string,
  params: Record<string, string>,
  nonce: string,
): string {
  const parsed = new URL(url);
  const query = [...parsed.searchParams]
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const keys = Object.keys(params).sort();
  let base = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  if (query || keys.length > 0) base += `?${query}`;
  if (query && keys.length > 0) base += '.';
  base += keys.map((k) => `${k}${params[k]}`).join('');
  return createHmac('sha256', authToken).update(`${base}.${nonce}`).digest('base64');
}

export interface AnswerResult {
  readonly status: number;
  readonly xml: string;
  /** The <Stream> element's attributes and URL (when there is one). */
  readonly stream?: { readonly attributes: Record<string, string>; readonly url: string };
  readonly dial?: string;
}

const xmlText = (text: string) =>
  text.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');

/** Calls the answer URL as Plivo does when a call comes in. */
export async function postAnswer(
  answerUrl: string,
  authToken: string,
  params: Record<string, string>,
  options: { signature?: string } = {},
): Promise<AnswerResult> {
  const nonce = String(Math.floor(Math.random() * 1e18));
  const response = await fetch(answerUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-plivo-signature-v3': options.signature ?? signV3(authToken, answerUrl, params, nonce),
      'x-plivo-signature-v3-nonce': nonce,
    },
    body: new URLSearchParams(params).toString(),
  });
  const xml = await response.text();
  const match = /<Stream([^>]*)>([^<]*)<\/Stream>/.exec(xml);
  const attributes: Record<string, string> = {};
  for (const [, name, value] of (match?.[1] ?? '').matchAll(/(\w+)="([^"]*)"/g))
    attributes[name] = xmlText(value);
  const dial = /<Dial><Number>([^<]*)<\/Number><\/Dial>/.exec(xml)?.[1];
  return {
    status: response.status,
    xml,
    ...(match ? { stream: { attributes, url: xmlText(match[2].trim()) } } : {}),
    ...(dial ? { dial } : {}),
  };
}

export interface PlivoStreamOptions {
  /** The URL from the <Stream> (with its query). */
  readonly url: string;
  readonly callId: string;
  readonly streamId?: string;
  readonly tracks: readonly ('inbound' | 'outbound')[];
  /** Unix ms of the first chunk. */
  readonly startedAtMs?: number;
  readonly headers?: Record<string, string>;
}

/** What the stream's far end received back (a bidirectional stream). */
export interface PlivoReceived {
  /** μ-law that Plivo would have played, in order (dropped by clearAudio: not here). */
  mulaw: Uint8Array;
  readonly playedStreams: string[];
  clearedAudios: number;
  readonly messages: unknown[];
  /** Messages that are not Plivo's documented playAudio / checkpoint / clearAudio. */
  readonly invalid: unknown[];
}

/** One Plivo audio stream socket, driven by the test. */
export class PlivoStream {
  readonly socket: WebSocket;
  readonly callId: string;
  readonly streamId: string;
  readonly received: PlivoReceived = {
    mulaw: new Uint8Array(0),
    playedStreams: [],
    clearedAudios: 0,
    messages: [],
    invalid: [],
  };
  readonly closed: Promise<{ code: number; reason: string; httpStatus?: number }>;
  readonly #startedAtMs: number;
  readonly #tracks: readonly ('inbound' | 'outbound')[];
  #sequence = 0;
  readonly #chunks = new Map<string, number>();
  /** Playback: when what was queued finishes (performance.now ms), and checkpoints waiting for it. */
  #playEnd = 0;
  #queued: { at: number; mulaw: Uint8Array }[] = [];
  readonly #checkpoints = new Set<NodeJS.Timeout>();

  private constructor(socket: WebSocket, options: PlivoStreamOptions) {
    this.socket = socket;
    this.callId = options.callId;
    this.streamId = options.streamId ?? randomUUID();
    this.#startedAtMs = options.startedAtMs ?? 1_705_312_200_000;
    this.#tracks = options.tracks;
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        for (const timer of this.#checkpoints) clearTimeout(timer);
        resolve({ code, reason: reason.toString() });
      });
      socket.once('unexpected-response', (_request, response) => {
        resolve({ code: 0, reason: '', httpStatus: response.statusCode });
        socket.terminate();
      });
      socket.once('error', () => undefined);
    });
    socket.on('message', (data) => this.#onMessage(data.toString()));
  }

  /** Opens the socket (resolves once open, or refused: then `closed` has the HTTP status). */
  static async open(options: PlivoStreamOptions): Promise<PlivoStream> {
    const stream = new PlivoStream(new WebSocket(options.url, { headers: options.headers }), options);
    await Promise.race([new Promise((resolve) => stream.socket.once('open', resolve)), stream.closed]);
    return stream;
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  sendStart(overrides: Record<string, unknown> = {}): void {
    this.send({
      event: 'start',
      sequenceNumber: ++this.#sequence,
      start: {
        callId: this.callId,
        streamId: this.streamId,
        accountId: PLIVO_ACCOUNT,
        tracks: this.#tracks,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000 },
        ...overrides,
      },
      extra_headers: '',
    });
  }

  /** One chunk of `track` at `offsetMs` from the stream's start (a string of Unix ms, as Plivo stamps). */
  sendMedia(track: 'inbound' | 'outbound', offsetMs: number, mulaw: Uint8Array): void {
    const chunk = (this.#chunks.get(track) ?? 0) + 1;
    this.#chunks.set(track, chunk);
    this.send({
      event: 'media',
      sequenceNumber: ++this.#sequence,
      streamId: this.streamId,
      media: {
        track,
        timestamp: String(this.#startedAtMs + offsetMs),
        chunk,
        payload: Buffer.from(mulaw).toString('base64'),
      },
      extra_headers: '',
    });
  }

  sendDtmf(digit: string): void {
    this.send({ event: 'dtmf', sequenceNumber: ++this.#sequence, streamId: this.streamId, dtmf: { digit } });
  }

  /**
   * Both tracks' audio in 20 ms chunks, interleaved, stamped on one clock (`jitterMs(i)` moves
   * chunk i's stamp); `dtmf` digits go out before the chunk at their time. `realtime` paces it.
   */
  async play(
    legs: Partial<Record<'inbound' | 'outbound', Uint8Array>>,
    options: {
      realtime?: boolean;
      dtmf?: { atMs: number; digit: string }[];
      jitterMs?: (i: number) => number;
    } = {},
  ): Promise<number> {
    const frames = Math.max(...Object.values(legs).map((m) => Math.ceil(m.length / FRAME_BYTES)));
    const dtmf = [...(options.dtmf ?? [])];
    const started = performance.now();
    for (let i = 0; i < frames; i++) {
      if (this.socket.readyState !== this.socket.OPEN) return i;
      for (const press of dtmf.filter((d) => d.atMs === i * 20)) this.sendDtmf(press.digit);
      for (const track of this.#tracks) {
        const mulaw = legs[track];
        if (!mulaw) continue;
        const frame = new Uint8Array(FRAME_BYTES).fill(0xff);
        frame.set(mulaw.subarray(i * FRAME_BYTES, (i + 1) * FRAME_BYTES));
        this.sendMedia(track, i * 20 + (options.jitterMs?.(i) ?? 0), frame);
      }
      if (options.realtime) {
        const wait = started + (i + 1) * 20 - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      } else if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    return frames;
  }

  /** Plivo ends a stream by closing its socket. */
  async hangUp(): Promise<{ code: number; reason: string }> {
    this.#flushPlayed();
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(1000, 'call ended');
    return this.closed;
  }

  #onMessage(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text);
    } catch {
      this.received.invalid.push(text);
      return;
    }
    this.received.messages.push(message);
    const media = message.media as Record<string, unknown> | undefined;
    switch (message.event) {
      case 'playAudio':
        if (
          message.streamId !== this.streamId ||
          media?.contentType !== 'audio/x-mulaw' ||
          media.sampleRate !== 8000 ||
          typeof media.payload !== 'string'
        ) {
          this.received.invalid.push(message);
          return;
        }
        this.#play(Buffer.from(media.payload, 'base64'));
        return;
      case 'checkpoint': {
        if (message.streamId !== this.streamId || typeof message.name !== 'string') {
          this.received.invalid.push(message);
          return;
        }
        const name = message.name;
        const timer = setTimeout(
          () => {
            this.#checkpoints.delete(timer);
            this.#flushPlayed();
            if (this.socket.readyState === this.socket.OPEN) {
              this.received.playedStreams.push(name);
              this.send({ event: 'playedStream', name });
            }
          },
          Math.max(0, this.#playEnd - performance.now()),
        );
        this.#checkpoints.add(timer);
        return;
      }
      case 'clearAudio':
        if (message.streamId !== this.streamId) {
          this.received.invalid.push(message);
          return;
        }
        // What has not played yet is dropped, and with it the checkpoints behind it.
        this.#flushPlayed();
        this.#queued = [];
        this.#playEnd = performance.now();
        for (const timer of this.#checkpoints) clearTimeout(timer);
        this.#checkpoints.clear();
        this.received.clearedAudios++;
        this.send({ event: 'clearedAudio', sequenceNumber: ++this.#sequence, streamId: this.streamId });
        return;
      default:
        this.received.invalid.push(message);
    }
  }

  #play(mulaw: Uint8Array): void {
    const now = performance.now();
    this.#playEnd = Math.max(this.#playEnd, now) + mulaw.length / 8;
    this.#queued.push({ at: this.#playEnd, mulaw });
  }

  /** Moves what has finished playing by now into `received.mulaw`. */
  #flushPlayed(): void {
    const now = performance.now();
    const done = this.#queued.filter((q) => q.at <= now + 1);
    this.#queued = this.#queued.filter((q) => q.at > now + 1);
    if (done.length === 0) return;
    const total = this.received.mulaw.length + done.reduce((n, q) => n + q.mulaw.length, 0);
    const out = new Uint8Array(total);
    out.set(this.received.mulaw);
    let at = this.received.mulaw.length;
    for (const q of done) {
      out.set(q.mulaw, at);
      at += q.mulaw.length;
    }
    this.received.mulaw = out;
  }
}
