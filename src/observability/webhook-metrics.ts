import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DispatcherObserver } from '../webhooks/dispatcher.js';
import type { OutboxStore } from '../webhooks/outbox-store.js';

/** Webhook delivery metrics, registered on the app's registry. */
export class WebhookMetrics implements DispatcherObserver {
  readonly #latency: Histogram<'endpoint'>;
  readonly #failedAttempts: Counter<'endpoint'>;
  readonly #dead: Counter<'endpoint'>;
  readonly stored: Counter<'type'>;
  readonly storeFailures: Counter;

  constructor(registry: Registry, outbox: OutboxStore | undefined) {
    const registers = [registry];
    this.#latency = new Histogram({
      name: 'voxline_webhook_delivery_seconds',
      help: 'From an event being committed to the outbox to its delivery being acknowledged (2xx)',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
      registers,
    });
    this.#failedAttempts = new Counter({
      name: 'voxline_webhook_failed_attempts_total',
      help: 'Delivery attempts that failed (will be retried unless dead-lettered)',
      labelNames: ['endpoint'],
      registers,
    });
    this.#dead = new Counter({
      name: 'voxline_webhook_dead_lettered_total',
      help: 'Deliveries given up (maximum age or 410), listed at GET /v1/webhooks/deliveries?status=failed',
      labelNames: ['endpoint'],
      registers,
    });
    this.stored = new Counter({
      name: 'voxline_webhook_events_total',
      help: 'Events committed to the outbox, by type',
      labelNames: ['type'],
      registers,
    });
    this.storeFailures = new Counter({
      name: 'voxline_webhook_store_failures_total',
      help: 'Events that could not be committed to the outbox (and so were lost)',
      registers,
    });
    new Gauge({
      name: 'voxline_webhook_deliveries',
      help: 'Deliveries in the outbox, by endpoint and status',
      labelNames: ['endpoint', 'status'],
      registers,
      async collect() {
        // The database down must not take /metrics with it: the gauge is left empty meanwhile.
        const counts = (await outbox?.counts().catch(() => [])) ?? [];
        this.reset();
        for (const { endpoint, status, n } of counts) this.set({ endpoint, status }, n);
      },
    });
  }

  delivered(endpoint: string, latencyMs: number): void {
    this.#latency.observe({ endpoint }, latencyMs / 1000);
  }

  attemptFailed(endpoint: string): void {
    this.#failedAttempts.inc({ endpoint });
  }

  deadLettered(endpoint: string): void {
    this.#dead.inc({ endpoint });
  }
}
