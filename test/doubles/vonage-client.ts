import { createHash, createHmac, randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

/*
 * Vonage's side of a Voice API call to a WebSocket, written from Vonage's documentation
 * (developer.vonage.com: voice-api/concepts/websockets, the NCCO reference, signed webhooks), never
 * from voxline's code: it signs the answer and event webhooks as Vonage does (HS256 JWT in
 * `Authorization: Bearer`, `payload_hash` the SHA-256 of the body, or for GET of the query as
 * compact JSON), runs the NCCO's `connect` → `websocket` endpoint, sends `websocket:connected`
 * with the endpoint's content-type and headers, streams 20 ms frames of 16-bit little-endian PCM,
 * and answers `notify` with `websocket:notify` and `clear` with `websocket:cleared`.
 */

export interface JwtOverrides {
  readonly iat?: number;
  readonly exp?: number;
  readonly applicationId?: string;
  readonly payloadHash?: string;
  readonly alg?: string;
  /** Sign with this secret instead (a forgery). */
  readonly secret?: string;
}

const b64url = (value: object | Buffer) =>
  (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url');

/** A JWT as Vonage signs a webhook carrying `payload`. */
export function vonageJwt(secret: string, payload: string, overrides: JwtOverrides = {}): string {
  const iat = overrides.iat ?? Math.floor(Date.now() / 1000);
  const header = b64url({ alg: overrides.alg ?? 'HS256', typ: 'JWT' });
  const claims = b64url({
    iat,
    ...(overrides.exp === undefined ? {} : { exp: overrides.exp }),
    jti: randomUUID(),
    iss: 'Vonage',
    payload_hash: overrides.payloadHash ?? createHash('sha256').update(payload).digest('hex'),
    api_key: 'abcd1234',
    application_id: overrides.applicationId ?? 'app-0000',
  });
  const signature = createHmac('sha256', overrides.secret ?? secret)
    .update(`${header}.${claims}`)
    .digest();
  return `${header}.${claims}.${b64url(signature)}`;
}

export interface AnswerRequest {
  readonly uuid: string;
  readonly from?: string;
  readonly to?: string;
  readonly conversationUuid?: string;
  readonly method?: 'GET' | 'POST';
  /** Query the operator put on the answer URL (`mode=agent`). */
  readonly urlQuery?: Record<string, string>;
  readonly jwt?: JwtOverrides | 'none';
}

/** Calls the answer URL as Vonage does; returns the status and the NCCO. */
export async function requestAnswer(
  baseUrl: string,
  secret: string,
  request: AnswerRequest,
): Promise<{ status: number; ncco: NccoAction[] }> {
  const params: Record<string, string> = {
    ...request.urlQuery,
    to: request.to ?? '447700900000',
    from: request.from ?? '447700900001',
    uuid: request.uuid,
    conversation_uuid: request.conversationUuid ?? `CON-${request.uuid}`,
  };
  const method = request.method ?? 'GET';
  let url = `${baseUrl}/vonage/answer`;
  let body: string | undefined;
  let signed: string;
  if (method === 'GET') {
    url += `?${new URLSearchParams(params)}`;
    signed = JSON.stringify(params);
  } else {
    const { mode, ...rest } = params;
    if (mode) url += `?mode=${mode}`;
    body = JSON.stringify(rest);
    signed = body;
  }
  const headers: Record<string, string> = {};
  if (body) headers['content-type'] = 'application/json';
  if (request.jwt !== 'none') headers.authorization = `Bearer ${vonageJwt(secret, signed, request.jwt)}`;
  const response = await fetch(url, { method, headers, body });
  const text = await response.text();
  return { status: response.status, ncco: response.ok ? (JSON.parse(text) as NccoAction[]) : [] };
}

/** Posts an event webhook as Vonage does. */
export async function postEvent(
  baseUrl: string,
  secret: string,
  event: Record<string, unknown>,
  jwt: JwtOverrides = {},
): Promise<number> {
  const body = JSON.stringify(event);
  const response = await fetch(`${baseUrl}/vonage/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${vonageJwt(secret, body, jwt)}` },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

export interface WebsocketEndpoint {
  readonly type: 'websocket';
  readonly uri: string;
  readonly 'content-type': string;
  readonly headers?: Record<string, string>;
}

export interface NccoAction {
  readonly action: string;
  readonly endpoint?: WebsocketEndpoint[];
  readonly eventUrl?: string[];
}

/** The websocket endpoint of an NCCO's connect action. */
export function websocketEndpoint(ncco: NccoAction[]): WebsocketEndpoint {
  const endpoint = ncco.find((a) => a.action === 'connect')?.endpoint?.find((e) => e.type === 'websocket');
  if (!endpoint) throw new Error(`no websocket endpoint in ${JSON.stringify(ncco)}`);
  return endpoint;
}

export interface VonageSocketResult {
  readonly code: number;
  readonly reason: string;
  /** The HTTP status when the upgrade was refused. */
  readonly httpStatus?: number;
}

/**
 * One Vonage WebSocket leg. Everything voxline sends is recorded: audio as samples (at the
 * endpoint's rate), the payloads of notifies (echoed back as `websocket:notify`), clears
 * (answered with `websocket:cleared`) and any other text.
 */
export class VonageSocket {
  readonly socket: WebSocket;
  readonly closed: Promise<VonageSocketResult>;
  readonly rate: number;
  readonly received = {
    frames: [] as Buffer[],
    notifies: [] as Record<string, unknown>[],
    clears: 0,
    other: [] as string[],
  };
  /** Echo notifies (Vonage does, once the audio before them has played). */
  echoNotify = true;

  private constructor(socket: WebSocket, rate: number) {
    this.socket = socket;
    this.rate = rate;
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      socket.once('unexpected-response', (_request, response) => {
        resolve({ code: 0, reason: '', httpStatus: response.statusCode });
        socket.terminate();
      });
      socket.once('error', () => undefined);
    });
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        this.received.frames.push(Buffer.from(data));
        return;
      }
      const text = data.toString('utf8');
      const message = JSON.parse(text) as { action?: string; payload?: Record<string, unknown> };
      if (message.action === 'notify') {
        this.received.notifies.push(message.payload ?? {});
        if (this.echoNotify) this.sendJson({ event: 'websocket:notify', payload: message.payload ?? {} });
      } else if (message.action === 'clear') {
        this.received.clears++;
        this.sendJson({ event: 'websocket:cleared' });
      } else {
        this.received.other.push(text);
      }
    });
  }

  /**
   * Connects to `endpoint` as Vonage does; unless `connected` is false, sends
   * `websocket:connected` with the endpoint's content-type and headers (overridable).
   */
  static async open(
    endpoint: WebsocketEndpoint,
    options: { connected?: false | Record<string, unknown>; uri?: string } = {},
  ): Promise<VonageSocket> {
    const rate = Number(/rate=(\d+)/.exec(endpoint['content-type'])?.[1] ?? 16000);
    const client = new VonageSocket(new WebSocket(options.uri ?? endpoint.uri), rate);
    const opened = new Promise((resolve) => client.socket.once('open', resolve));
    await Promise.race([opened, client.closed]);
    if (client.open && options.connected !== false) {
      client.sendJson({
        event: 'websocket:connected',
        'content-type': endpoint['content-type'],
        ...endpoint.headers,
        ...options.connected,
      });
    }
    return client;
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  sendJson(message: unknown): void {
    if (this.open) this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary: boolean): void {
    if (this.open) this.socket.send(data, { binary });
  }

  sendDtmf(digit: string, duration = 260): void {
    this.sendJson({ event: 'websocket:dtmf', digit, duration });
  }

  /** Streams `pcm` (at the endpoint's rate) as 20 ms frames, as fast as the socket takes or in real time. */
  async stream(pcm: Int16Array, pace: 'fast' | 'realtime' = 'fast'): Promise<number> {
    const perFrame = this.rate / 50;
    const started = performance.now();
    let frames = 0;
    for (let at = 0; at < pcm.length && this.open; at += perFrame) {
      const frame = pcm.subarray(at, at + perFrame);
      const bytes = Buffer.alloc(frame.length * 2);
      for (let i = 0; i < frame.length; i++) bytes.writeInt16LE(frame[i], 2 * i);
      this.socket.send(bytes, { binary: true });
      frames++;
      if (pace === 'realtime') {
        const due = started + frames * 20 - performance.now();
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      } else if (frames % 50 === 0) {
        await new Promise((resolve) => setImmediate(resolve)); // let the socket drain
      }
    }
    return frames;
  }

  /** What voxline played, as samples at the endpoint's rate. */
  receivedPcm(): Int16Array {
    const all = Buffer.concat(this.received.frames);
    const out = new Int16Array(all.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = all.readInt16LE(2 * i);
    return out;
  }

  /** Hangs up: Vonage closes the socket (it sends no stop message). */
  async hangUp(): Promise<VonageSocketResult> {
    if (this.open) this.socket.close(1000);
    return this.closed;
  }
}
