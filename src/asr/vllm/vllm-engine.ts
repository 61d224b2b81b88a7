import { EndpointPool } from '../endpoint-pool.js';
import { probeModel } from '../model-probe.js';
import type { RealtimeLimits, StreamObserver } from '../realtime-options.js';
import type { EngineHealth, SpeechToText, SttStream, SttStreamOptions } from '../stt.js';
import { modelsUrl, VllmStream } from './vllm-stream.js';

export interface VllmEngineOptions {
  /** One base URL per replica, e.g. `http://gpu-1:8000`. */
  readonly urls: readonly string[];
  readonly model: string;
  readonly apiKey: string | undefined;
  readonly limits: RealtimeLimits;
  readonly observer: StreamObserver;
}

/** Voxtral Realtime served by one or more vLLM replicas (`vllm serve … /v1/realtime`). */
export class VllmEngine implements SpeechToText {
  readonly name = 'vllm';
  readonly #options: VllmEngineOptions;
  readonly #pool: EndpointPool;

  constructor(options: VllmEngineOptions) {
    this.#options = options;
    this.#pool = new EndpointPool(options.urls);
  }

  stream(options: SttStreamOptions): SttStream {
    const stream = new VllmStream(options, {
      model: this.#options.model,
      apiKey: this.#options.apiKey,
      pool: this.#pool,
      limits: this.#options.limits,
      observer: this.#options.observer,
    });
    stream.start();
    return stream;
  }

  async probe(): Promise<EngineHealth> {
    const { model, apiKey, limits } = this.#options;
    await Promise.all(
      this.#pool.urls.map(async (url) => {
        const result = await probeModel(modelsUrl(url), model, apiKey, limits.connectTimeoutMs);
        if (result.state === 'up') this.#pool.markUp(url);
        else this.#pool.markDown(url, result.detail, result.state);
      }),
    );
    const endpoints = this.#pool.health();
    return { engine: this.name, ready: endpoints.some((e) => e.state === 'up'), endpoints };
  }

  async close(): Promise<void> {}
}
