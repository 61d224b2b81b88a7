import type { FastifyBaseLogger } from 'fastify';
import type { AsrMetrics } from '../observability/asr-metrics.js';
import type { EngineHealth, SpeechToText } from './stt.js';

/**
 * Probes the speech engine at start and every interval: the result steers replica choice, feeds
 * /readyz and the endpoint-state metric, and changes are logged (a wrong model name loudly).
 */
export class EngineReadiness {
  readonly #engine: SpeechToText;
  readonly #metrics: AsrMetrics;
  readonly #log: FastifyBaseLogger;
  #last: EngineHealth | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(engine: SpeechToText, metrics: AsrMetrics, log: FastifyBaseLogger) {
    this.#engine = engine;
    this.#metrics = metrics;
    this.#log = log;
  }

  get last(): EngineHealth | undefined {
    return this.#last;
  }

  start(intervalMs: number): void {
    void this.probe();
    this.#timer ??= setInterval(() => void this.probe(), intervalMs);
    this.#timer.unref();
  }

  async probe(): Promise<EngineHealth> {
    const health = await this.#engine.probe();
    const before = new Map(this.#last?.endpoints.map((e) => [e.url, e.state]));
    this.#last = health;
    this.#metrics.health(health);
    for (const endpoint of health.endpoints) {
      if (before.get(endpoint.url) === endpoint.state) continue;
      const entry = {
        engine: health.engine,
        endpoint: endpoint.url,
        state: endpoint.state,
        detail: endpoint.detail,
      };
      // Not known yet (still loading, first probe pending) is no failure: only `down` is an error.
      if (endpoint.state === 'down') this.#log.error(entry, 'speech engine endpoint is down');
      else if (endpoint.state === 'up') this.#log.info(entry, 'speech engine endpoint is up');
      else this.#log.debug(entry, 'speech engine endpoint is not known yet');
    }
    return health;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
