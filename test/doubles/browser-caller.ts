import { WebSocket } from 'ws';

/**
 * A browser page calling voxline's `browser` ingress, written from the protocol in
 * docs/carriers/browser.md (not from voxline's code): the WebSocket upgrade with a session cookie
 * and Origin (or a bearer token), `start`, binary PCM16LE at 16 kHz, `dtmf`, `hangup`; and what
 * comes back: `started`, agent audio, `clear`, `ended`, `error`, and the close.
 */
export interface BrowserStartMessage {
  readonly type?: 'start';
  readonly mode: 'transcribe' | 'agent';
  readonly channels: 1 | 2;
  readonly sampleRate?: number;
  readonly name?: string;
  readonly parameters?: Record<string, string>;
}

export interface ReceivedText {
  readonly type: string;
  readonly [key: string]: unknown;
}

export class BrowserCaller {
  readonly socket: WebSocket;
  /** Text messages from voxline, in order. */
  readonly messages: ReceivedText[] = [];
  /** Binary messages (agent audio), with when they arrived (performance.now()). */
  readonly audio: { bytes: Buffer; atMs: number }[] = [];
  /** Where in `audio` each `clear` arrived. */
  readonly clearsAt: number[] = [];
  readonly closed: Promise<{ code: number; reason: string; httpStatus?: number }>;
  readonly #opened: Promise<void>;

  private constructor(url: string, headers: Record<string, string>) {
    this.socket = new WebSocket(url, { headers });
    this.#opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    this.#opened.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      this.socket.once('unexpected-response', (_request, response) => {
        resolve({ code: 0, reason: '', httpStatus: response.statusCode });
        response.resume();
      });
      this.socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.socket.on('error', () => undefined);
    this.socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.audio.push({ bytes: data as Buffer, atMs: performance.now() });
        return;
      }
      const message = JSON.parse(String(data)) as ReceivedText;
      if (message.type === 'clear') this.clearsAt.push(this.audio.length);
      this.messages.push(message);
    });
  }

  /** Opens the socket: with `cookie` and `origin` as a page would, or `bearer` as a script. */
  static async connect(
    baseUrl: string,
    auth: { cookie?: string; origin?: string; bearer?: string } = {},
  ): Promise<BrowserCaller> {
    const headers: Record<string, string> = {};
    if (auth.cookie) headers.cookie = auth.cookie;
    if (auth.origin) headers.origin = auth.origin;
    if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
    const caller = new BrowserCaller(`${baseUrl.replace(/^http/, 'ws')}/browser/call`, headers);
    await Promise.race([caller.#opened, caller.closed]);
    return caller;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends `start` and waits for `started` (or `error`). */
  async start(start: BrowserStartMessage): Promise<ReceivedText> {
    this.sendJson({ type: 'start', sampleRate: 16_000, ...start });
    return this.next((m) => m.type === 'started' || m.type === 'error');
  }

  sendJson(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    this.socket.send(data, { binary });
  }

  /** Interleaved samples as PCM16LE, in messages of `chunkMs` (20 ms, as the console sends). */
  sendPcm(samples: Int16Array, channels: 1 | 2 = 1, chunkMs = 20): void {
    const step = 16 * chunkMs * channels;
    for (let at = 0; at < samples.length; at += step) {
      const part = samples.subarray(at, Math.min(samples.length, at + step));
      const bytes = Buffer.alloc(part.length * 2);
      for (let i = 0; i < part.length; i++) bytes.writeInt16LE(part[i], 2 * i);
      this.socket.send(bytes, { binary: true });
    }
  }

  /**
   * The same at real-time pace, as a page streaming a file does, `leadMs` ahead of the wall clock
   * (voxline keeps up to 2 s ahead), in 20 ms messages; stops early once `until()` is true.
   */
  async sendPcmPaced(
    samples: Int16Array,
    channels: 1 | 2 = 1,
    { leadMs = 0, until }: { leadMs?: number; until?: () => boolean } = {},
  ): Promise<void> {
    const step = 320 * channels;
    const t0 = performance.now() - leadMs;
    for (let k = 0; k * step < samples.length; k++) {
      if (until?.() || !this.open) return;
      this.sendPcm(samples.subarray(k * step, (k + 1) * step), channels);
      const wait = t0 + (k + 1) * 20 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  hangUp(): void {
    this.sendJson({ type: 'hangup' });
  }

  /** The agent audio received, as samples. */
  agentPcm(): Int16Array {
    const bytes = Buffer.concat(this.audio.map((a) => a.bytes));
    const out = new Int16Array(bytes.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(2 * i);
    return out;
  }

  /** The first text message (already received or still to come) that `match` accepts. */
  next(match: (m: ReceivedText) => boolean): Promise<ReceivedText> {
    const found = this.messages.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onMessage = () => {
        const hit = this.messages.find(match);
        if (!hit) return;
        this.socket.off('message', onMessage);
        resolve(hit);
      };
      this.socket.on('message', onMessage);
      void this.closed.then((c) => {
        const hit = this.messages.find(match);
        if (hit) resolve(hit);
        else reject(new Error(`closed (${c.code} ${c.reason}${c.httpStatus ?? ''}) before the message`));
      });
    });
  }
}

/** Signs in as the console's form does and returns the session cookie (name=value). */
export async function signIn(baseUrl: string, token: string): Promise<string> {
  const response = await fetch(`${baseUrl}/console/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: baseUrl },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });
  const cookie = response.headers.get('set-cookie');
  if (response.status !== 303 || !cookie) throw new Error(`sign-in failed: ${response.status}`);
  return cookie.split(';')[0];
}
