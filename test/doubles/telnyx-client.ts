import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { WebSocket } from 'ws';

/*
 * Telnyx as the far end, written from Telnyx's documentation (never from voxline's code):
 * - webhooks (TeXML instruction fetch, stream status callback): form-encoded Twilio-compatible
 *   fields, signed with Ed25519 over `${telnyx-timestamp}|${body}`, the signature base64 in
 *   `telnyx-signature-ed25519` (developers.telnyx.com api-reference/callbacks/texml-stream);
 * - the media stream (api-reference/websockets/stream-call-media-over-websocket): Telnyx opens the
 *   WebSocket named by <Stream url>, sends `connected`, `start` (media_format, custom_parameters
 *   from <Parameter>), `media` per track (base64 RTP payload, sequence_number, chunk, timestamp),
 *   `dtmf`, `stop`; in RTP bidirectional mode it plays the `media` it receives in order at real
 *   time, echoes a `mark` once the audio before it has played (at once when nothing is queued),
 *   and on `clear` drops what is queued and echoes the queued marks.
 */

export interface TelnyxKeys {
  /** The portal's form: the raw 32-byte public key in base64. */
  readonly publicKeyBase64: string;
  readonly privateKey: KeyObject;
}

export function telnyxKeys(): TelnyxKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x as string;
  return { publicKeyBase64: Buffer.from(x, 'base64url').toString('base64'), privateKey };
}

export function signTelnyx(privateKey: KeyObject, timestamp: string, body: string): string {
  return sign(null, Buffer.from(`${timestamp}|${body}`), privateKey).toString('base64');
}

export interface WebhookOptions {
  /** Unix seconds (default now). */
  readonly timestamp?: string;
  /** Replaces the signature Telnyx would send (undefined: none sent at all when `unsigned`). */
  readonly signature?: string;
  readonly unsigned?: boolean;
  /** Changes the body after signing (a tampered request). */
  readonly tamper?: (body: string) => string;
}

export interface TexmlAnswer {
  readonly status: number;
  readonly body: string;
  /** The <Stream url> of the answer, as Telnyx would open it. */
  readonly streamUrl: string | undefined;
  readonly streamAttributes: Readonly<Record<string, string>>;
  readonly parameters: Readonly<Record<string, string>>;
}

/** POSTs a signed, form-encoded webhook the way Telnyx does. */
export async function postTelnyxWebhook(
  url: string,
  keys: TelnyxKeys,
  fields: Readonly<Record<string, string>>,
  options: WebhookOptions = {},
): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams(fields).toString();
  const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (!options.unsigned) {
    headers['telnyx-timestamp'] = timestamp;
    headers['telnyx-signature-ed25519'] = options.signature ?? signTelnyx(keys.privateKey, timestamp, body);
  }
  const response = await fetch(url, { method: 'POST', headers, body: options.tamper?.(body) ?? body });
  return { status: response.status, body: await response.text() };
}

/** Telnyx fetching TeXML for an inbound call: the answer, with its <Stream> read out. */
export async function fetchTexml(
  url: string,
  keys: TelnyxKeys,
  fields: Readonly<Record<string, string>>,
  options: WebhookOptions = {},
): Promise<TexmlAnswer> {
  const { status, body } = await postTelnyxWebhook(url, keys, fields, options);
  const stream = /<Stream\s([^>]*?)\/?>/.exec(body);
  const streamAttributes = stream ? readAttributes(stream[1] ?? '') : {};
  const parameters: Record<string, string> = {};
  for (const match of body.matchAll(/<Parameter\s([^>]*?)\/>/g)) {
    const { name, value } = readAttributes(match[1] ?? '');
    if (name !== undefined && value !== undefined) parameters[name] = value;
  }
  return { status, body, streamUrl: streamAttributes.url, streamAttributes, parameters };
}

function readAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [, name, value] of text.matchAll(/([A-Za-z]+)="([^"]*)"/g)) {
    out[name as string] = (value as string).replace(/&#(\d+);/g, (_m, code) =>
      String.fromCharCode(Number(code)),
    );
  }
  return out;
}

export type TelnyxTrack = 'inbound' | 'outbound';

export interface StreamOptions {
  /** The stream URL (with its token), as the TeXML answer gave it. */
  readonly url: string;
  readonly callControlId: string;
  readonly streamId?: string;
  readonly mediaFormat?: { encoding: string; sample_rate: number; channels: number };
  readonly customParameters?: Readonly<Record<string, string>>;
  /** Each track's RTP payload bytes, cut into `frameBytes` per media message. */
  readonly tracks: Partial<Record<TelnyxTrack, Uint8Array>>;
  /** Bytes per 20 ms message (160 for G.711 at 8 kHz and for G.722, 640 for L16 at 16 kHz). */
  readonly frameBytes?: number;
  /** `fast`: as fast as the socket takes; `realtime`: one message per track every 20 ms. */
  readonly pace?: 'fast' | 'realtime';
  /** Digits pressed, each before the media of that frame index. */
  readonly dtmf?: readonly { readonly beforeFrame: number; readonly digit: string }[];
  /** Frame damage by index into the media messages as numbered (both tracks interleaved). */
  readonly swapWithNext?: ReadonlySet<number>;
  readonly duplicate?: ReadonlySet<number>;
  readonly drop?: ReadonlySet<number>;
  /** After the media, how long to stay connected (playing what voxline sent) before `stop`. */
  readonly tailMs?: number;
  /** Send `stop` at the end (default true); else the socket just closes. */
  readonly stop?: boolean;
  /** Extra raw text frames sent right after start. */
  readonly extraFrames?: readonly string[];
}

export interface Received {
  /** Payload bytes of every `media` voxline sent, in order. */
  readonly media: Uint8Array[];
  readonly marks: string[];
  clears: number;
  /** Every text frame voxline sent, parsed. */
  readonly frames: unknown[];
}

export interface StreamResult {
  readonly closeCode: number;
  readonly closeReason: string;
  /** Media messages sent (after damage). */
  readonly mediaSent: number;
  readonly received: Received;
}

/** Plays what voxline sends at real time (8 bytes per ms of G.711): marks echo after it. */
class Playout {
  #marks: { name: string; timer: NodeJS.Timeout }[] = [];
  #playedUntil = 0;
  readonly #echo: (name: string) => void;

  constructor(echo: (name: string) => void) {
    this.#echo = echo;
  }

  media(bytes: number): void {
    const now = performance.now();
    this.#playedUntil = Math.max(this.#playedUntil, now) + bytes / 8;
  }

  mark(name: string): void {
    const wait = Math.max(0, this.#playedUntil - performance.now());
    const entry = { name, timer: setTimeout(() => this.#release(entry), wait) };
    this.#marks.push(entry);
  }

  clear(): void {
    this.#playedUntil = performance.now();
    for (const entry of this.#marks.splice(0)) {
      clearTimeout(entry.timer);
      this.#echo(entry.name);
    }
  }

  stop(): void {
    for (const entry of this.#marks.splice(0)) clearTimeout(entry.timer);
  }

  #release(entry: { name: string; timer: NodeJS.Timeout }): void {
    this.#marks = this.#marks.filter((m) => m !== entry);
    this.#echo(entry.name);
  }
}

/** One media stream as Telnyx sends it; resolves when the socket has closed. */
export async function streamTelnyxCall(options: StreamOptions): Promise<StreamResult> {
  const frameBytes = options.frameBytes ?? 160;
  const streamId = options.streamId ?? `stream-${options.callControlId}`;
  const socket = new WebSocket(options.url);
  const received: Received = { media: [], marks: [], clears: 0, frames: [] };
  let sequence = 0;
  const send = (message: Record<string, unknown>) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const playout = new Playout((name) =>
    send({ event: 'mark', sequence_number: String(++sequence), stream_id: streamId, mark: { name } }),
  );
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as {
      event: string;
      media?: { payload: string };
      mark?: { name: string };
    };
    received.frames.push(frame);
    if (frame.event === 'media' && frame.media) {
      const bytes = Buffer.from(frame.media.payload, 'base64');
      received.media.push(bytes);
      playout.media(bytes.length);
    } else if (frame.event === 'mark' && frame.mark) {
      received.marks.push(frame.mark.name);
      playout.mark(frame.mark.name);
    } else if (frame.event === 'clear') {
      received.clears++;
      playout.clear();
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const opened = await new Promise<boolean>((resolve) => {
    socket.once('open', () => resolve(true));
    socket.once('error', () => resolve(false));
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(false);
    });
  });
  if (!opened) throw new Error('the media stream was refused');

  send({ event: 'connected', version: '1.0.0' });
  send({
    event: 'start',
    sequence_number: String(++sequence),
    stream_id: streamId,
    start: {
      user_id: 'f5586561-8ff0-4291-a51b-c7dfe4139ff9',
      call_control_id: options.callControlId,
      call_session_id: 'ff55a038-6f5d-11ef-9692-02420aeffb1f',
      from: '+13122010094',
      to: '+13122123456',
      client_state: null,
      custom_parameters: options.customParameters ?? {},
      media_format: options.mediaFormat ?? { encoding: 'PCMU', sample_rate: 8000, channels: 1 },
    },
  });
  for (const text of options.extraFrames ?? []) if (socket.readyState === socket.OPEN) socket.send(text);

  // Media messages in Telnyx's order: each 20 ms, one per streamed track; numbered as sent.
  const tracks = (['inbound', 'outbound'] as const).filter((t) => options.tracks[t]);
  const frames = Math.max(...tracks.map((t) => Math.ceil((options.tracks[t]?.length ?? 0) / frameBytes)));
  const messages: Record<string, unknown>[] = [];
  const dtmfAt = new Map((options.dtmf ?? []).map((d) => [d.beforeFrame, d.digit]));
  const chunks = { inbound: 0, outbound: 0 };
  for (let frame = 0; frame < frames; frame++) {
    const digit = dtmfAt.get(frame);
    if (digit !== undefined) {
      messages.push({
        event: 'dtmf',
        stream_id: streamId,
        occurred_at: new Date().toISOString(),
        dtmf: { digit },
      });
    }
    for (const track of tracks) {
      const audio = options.tracks[track] as Uint8Array;
      const payload = audio.subarray(frame * frameBytes, (frame + 1) * frameBytes);
      if (payload.length === 0) continue;
      messages.push({
        event: 'media',
        stream_id: streamId,
        media: {
          track,
          chunk: String(++chunks[track]),
          timestamp: String(frame * 20),
          payload: Buffer.from(payload).toString('base64'),
        },
      });
    }
  }
  // Numbered as Telnyx sends them (marks echoed meanwhile take the numbers between), then
  // damaged on the way: a dropped message keeps its number, a swapped one overtakes its successor.
  const realtime = options.pace === 'realtime';
  const started = performance.now();
  let mediaSent = 0;
  let tick = 0;
  let mediaIndex = -1;
  let held: Record<string, unknown> | undefined;
  for (const message of messages) {
    if (socket.readyState !== socket.OPEN) break;
    const k = message.event === 'media' ? ++mediaIndex : -1;
    // A new 20 ms tick each time the first streamed track comes round again.
    if (realtime && k >= 0 && (message.media as { track: string }).track === tracks[0]) {
      const due = started + tick++ * 20 - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    }
    message.sequence_number = String(++sequence);
    if (options.drop?.has(k)) continue;
    if (options.swapWithNext?.has(k) && !held) {
      held = message;
      continue;
    }
    send(message);
    if (k >= 0) mediaSent++;
    if (options.duplicate?.has(k)) {
      send(message);
      mediaSent++;
    }
    if (held && held !== message) {
      send(held);
      mediaSent++;
      held = undefined;
    }
  }
  if (held) {
    send(held);
    mediaSent++;
  }
  if (options.tailMs) await new Promise((resolve) => setTimeout(resolve, options.tailMs));
  if (options.stop ?? true) {
    send({
      event: 'stop',
      sequence_number: String(++sequence),
      stream_id: streamId,
      stop: { call_control_id: options.callControlId },
    });
  } else if (socket.readyState === socket.OPEN) socket.close(1000, 'done');
  const guard = setTimeout(() => socket.terminate(), 10_000);
  const { code, reason } = await closed;
  clearTimeout(guard);
  playout.stop();
  return { closeCode: code, closeReason: reason, mediaSent, received };
}
