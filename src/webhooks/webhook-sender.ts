import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../clock.js';

/** What an endpoint answered: its status, and a Retry-After if it sent one. */
export interface SendResult {
  readonly status: number;
  readonly retryAfter: string | undefined;
}

/** A response body longer than this is not read to its end: the socket is dropped instead. */
const MAX_DRAINED_BYTES = 64 * 1024;

/** No answer by the deadline. */
export class WebhookTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'WebhookTimeoutError';
  }
}

/**
 * POSTs to one endpoint over kept-alive connections, at most `maxSockets` at once. node:http
 * rather than fetch: on a 2-core VM fetch's own work per request was what bounded delivery.
 * Redirects are not followed (a 3xx is a failed attempt, as a receiver that moved should say so
 * in config), the response body is drained only up to MAX_DRAINED_BYTES, and the deadline runs
 * on the injected clock.
 */
export class WebhookSender {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #clock: Clock;
  readonly #timeoutMs: number;

  constructor(url: string, maxSockets: number, clock: Clock, timeoutMs: number) {
    this.#url = new URL(url);
    const secure = this.#url.protocol === 'https:';
    this.#agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets });
    this.#request = secure ? https.request : http.request;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  /** Resolves with the answer's status once its headers arrive; rejects on a network error or the deadline. */
  post(headers: Readonly<Record<string, string>>, body: string): Promise<SendResult> {
    const payload = Buffer.from(body);
    return new Promise<SendResult>((resolve, reject) => {
      const request = this.#request(
        this.#url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { ...headers, 'content-length': String(payload.length) },
        },
        (response) => {
          this.#clock.clearTimeout(timer);
          // The answer is in; its body is drained (so the connection can be reused) within the
          // same deadline and up to MAX_DRAINED_BYTES, else the connection is dropped.
          const draining = this.#clock.setTimeout(() => response.destroy(), this.#timeoutMs);
          draining.unref();
          response.on('close', () => this.#clock.clearTimeout(draining));
          let drained = 0;
          response.on('data', (chunk: Buffer) => {
            drained += chunk.length;
            if (drained > MAX_DRAINED_BYTES) response.destroy();
          });
          response.on('error', () => undefined); // a body cut short changes nothing
          const retryAfter = response.headers['retry-after'];
          resolve({
            status: response.statusCode ?? 0,
            retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          });
        },
      );
      const timer = this.#clock.setTimeout(
        () => request.destroy(new WebhookTimeoutError(this.#timeoutMs)),
        this.#timeoutMs,
      );
      timer.unref();
      request.on('error', (err) => {
        this.#clock.clearTimeout(timer);
        reject(err);
      });
      request.end(payload);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}
