import WebSocket from 'ws';
import type { EndpointPool } from '../endpoint-pool.js';
import type { RealtimeLimits, StreamObserver } from '../realtime-options.js';
import type { ServerFailure } from '../realtime-stream.js';
import { RealtimeStream } from '../realtime-stream.js';
import type { SttStreamOptions } from '../stt.js';
import type { WordTimer } from '../word-timing.js';
import { parseVllmEvent, type VllmServerEvent, vllmMessages } from './vllm-protocol.js';

export interface VllmStreamSettings {
  readonly model: string;
  readonly apiKey: string | undefined;
  readonly pool: EndpointPool;
  readonly limits: RealtimeLimits;
  readonly observer: StreamObserver;
}

/**
 * One leg on vLLM's `/v1/realtime`: session.update with the model, then per utterance
 * commit → appends → commit final → wait for done. vLLM drops audio appended between `final` and
 * `done`, so the next utterance's audio waits in RealtimeStream until `done` has arrived.
 */
export class VllmStream extends RealtimeStream {
  protected readonly engine = 'vllm';
  protected readonly bytesPerMs = 32;
  readonly #settings: VllmStreamSettings;
  #endpoint: string | undefined;
  #lastFailed: string | undefined;

  constructor(options: SttStreamOptions, settings: VllmStreamSettings) {
    super(options, settings.limits, settings.observer);
    this.#settings = settings;
  }

  protected openSocket(): WebSocket {
    const { pool, apiKey, model } = this.#settings;
    const endpoint = pool.acquire(this.#lastFailed);
    this.#endpoint = endpoint;
    const ws = new WebSocket(realtimeUrl(endpoint), {
      headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
      perMessageDeflate: false,
    });
    let sessionReady = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const event = isBinary ? undefined : parseVllmEvent(data.toString('utf8'));
      if (!event) {
        this.log.warn({ endpoint }, 'unrecognised message from vLLM: ignored');
        return;
      }
      if (event.type === 'session.created') {
        ws.send(vllmMessages.sessionUpdate(model));
        // vLLM acknowledges nothing on success; a wrong model comes back as an error event.
        sessionReady = true;
        pool.markUp(endpoint);
        this.#lastFailed = undefined;
        this.ready();
      } else if (event.type === 'transcription.delta') this.delta(event.delta);
      else if (event.type === 'transcription.done') this.done(event.text);
      else this.#serverError(event, endpoint);
    });
    let socketError: string | undefined;
    ws.on('error', (err) => {
      // The close that follows reports the loss, with this reason (one line, not two).
      socketError = err.message;
      this.log.debug({ endpoint, err: err.message }, 'vLLM socket error');
    });
    ws.on('close', (code) => {
      if (!sessionReady) {
        this.#lastFailed = endpoint;
        pool.markDown(endpoint, `connection closed before the session started (code ${code})`);
      }
      this.socketLost(ws, `vLLM socket closed (code ${code})${socketError ? `: ${socketError}` : ''}`);
    });
    return ws;
  }

  protected override onSocketClosed(): void {
    if (this.#endpoint) this.#settings.pool.release(this.#endpoint);
    this.#endpoint = undefined;
  }

  protected sendBegin(ws: WebSocket): void {
    ws.send(vllmMessages.commit);
  }

  protected sendAudio(ws: WebSocket, chunk: Buffer): void {
    ws.send(vllmMessages.append(chunk));
  }

  protected sendEnd(ws: WebSocket): void {
    ws.send(vllmMessages.commitFinal);
  }

  protected timeText(timer: WordTimer, delta: string): void {
    timer.push(delta);
  }

  #serverError(event: Extract<VllmServerEvent, { type: 'error' }>, endpoint: string): void {
    const message = `vLLM ${endpoint}: ${event.error}${event.code ? ` (${event.code})` : ''}`;
    let failure: ServerFailure;
    if (event.code === 'model_not_found') {
      this.#settings.pool.markDown(endpoint, event.error, 'wrong_model');
      failure = {
        kind: 'fatal',
        code: 'model_not_found',
        message: `${message}. Set VLLM_MODEL to the name vLLM serves (its --served-model-name, or the model path)`,
      };
    } else {
      failure = { kind: 'retry_utterance', message };
    }
    this.failed(failure);
  }
}

/** `http://host:8000` (or ws://, or with a path prefix) → `ws://host:8000/v1/realtime`. */
export function realtimeUrl(base: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' || url.protocol === 'wss:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/realtime`;
  return url.toString();
}

/** `ws://host:8000` → `http://host:8000/v1/models`. */
export function modelsUrl(base: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === 'wss:' || url.protocol === 'https:' ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/models`;
  return url.toString();
}
