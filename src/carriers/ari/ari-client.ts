import type { FastifyBaseLogger } from 'fastify';
import WebSocket from 'ws';
import type { Clock, TimerHandle } from '../../clock.js';
import type { AriOptions } from './ari-config.js';

/** An ARI REST call Asterisk answered with an error status (or that never got an answer). */
export class AriRequestError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'AriRequestError';
    this.status = status;
  }
}

const REQUEST_TIMEOUT_MS = 5_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * Asterisk's REST Interface: requests over fetch with Basic auth, and the events WebSocket
 * (`/ari/events?app=…`), reconnected with backoff while the client is open. Nothing here throws
 * past its caller: a request rejects with an AriRequestError, an event that is not a JSON object
 * is counted and dropped.
 */
export class AriClient {
  readonly #options: AriOptions;
  readonly #clock: Clock;
  readonly #log: FastifyBaseLogger;
  readonly #auth: string;
  #socket: WebSocket | undefined;
  #retry: TimerHandle | undefined;
  #retryMs = FIRST_RETRY_MS;
  #closed = false;

  constructor(options: AriOptions, clock: Clock, log: FastifyBaseLogger) {
    this.#options = options;
    this.#clock = clock;
    this.#log = log;
    this.#auth = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  }

  /** `path` below /ari, e.g. `/bridges`; resolves with the parsed JSON body (undefined if none). */
  async request(method: string, path: string, query: Record<string, string> = {}): Promise<unknown> {
    const url = new URL(`${this.#options.url}/ari${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: this.#auth },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new AriRequestError(`ARI ${method} ${path}: ${(err as Error).message}`);
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      const detail = response.status === 401 ? ' (ARI_USERNAME/ARI_PASSWORD refused)' : '';
      throw new AriRequestError(`ARI ${method} ${path}: ${response.status}${detail}`, response.status);
    }
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  /** Subscribes to the app's events; `onEvent` gets each one that is a JSON object. */
  connect(onEvent: (event: Record<string, unknown>) => void, onMalformed: () => void): void {
    if (this.#closed) return;
    const url = new URL(`${this.#options.url.replace(/^http/, 'ws')}/ari/events`);
    url.searchParams.set('app', this.#options.app);
    url.searchParams.set('subscribeAll', 'false');
    const socket = new WebSocket(url, { headers: { authorization: this.#auth } });
    this.#socket = socket;
    socket.on('open', () => {
      this.#retryMs = FIRST_RETRY_MS;
      this.#log.info({ app: this.#options.app }, 'ARI events connected');
    });
    socket.on('unexpected-response', (_req, res) => {
      const hint = res.statusCode === 401 ? ': ARI_USERNAME/ARI_PASSWORD refused' : '';
      this.#log.error({ status: res.statusCode }, `ARI events refused (${res.statusCode})${hint}`);
      res.resume();
      socket.terminate();
    });
    socket.on('message', (data, isBinary) => {
      let event: unknown;
      try {
        event = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        event = undefined;
      }
      if (typeof event !== 'object' || event === null || Array.isArray(event)) {
        onMalformed();
        return;
      }
      onEvent(event as Record<string, unknown>);
    });
    socket.on('error', (err) => this.#log.debug({ err }, 'ARI events socket error'));
    socket.on('close', () => {
      if (this.#socket !== socket || this.#closed) return;
      this.#socket = undefined;
      const wait = this.#retryMs;
      this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
      this.#log.warn({ retryMs: wait }, 'ARI events disconnected: reconnecting');
      this.#retry = this.#clock.setTimeout(() => this.connect(onEvent, onMalformed), wait);
      this.#retry.unref();
    });
  }

  close(): void {
    this.#closed = true;
    this.#clock.clearTimeout(this.#retry);
    this.#socket?.terminate();
    this.#socket = undefined;
  }
}
