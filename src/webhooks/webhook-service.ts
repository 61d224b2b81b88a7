import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { CallObserver } from '../calls/call.js';
import type { LegConsumerFactory } from '../calls/call-registry.js';
import type { Config } from '../config.js';
import { WebhookMetrics } from '../observability/webhook-metrics.js';
import { Recordings } from '../recording/recordings.js';
import { Dispatcher } from './dispatcher.js';
import { Outbox } from './outbox.js';
import { WebhookPublisher } from './webhook-publisher.js';

/** Outbox, dispatcher, publisher and recordings, wired from config; what buildApp plugs in. */
export interface WebhookService {
  readonly outbox: Outbox | undefined;
  readonly dispatcher: Dispatcher | undefined;
  readonly recordings: Recordings | undefined;
  readonly observers: readonly CallObserver[];
  readonly consumers: readonly LegConsumerFactory[];
  start(): void;
  /** After the calls have drained: stops deliveries (bounded wait for those in flight), closes the database. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The outbox lives at DATA_DIR/voxline.db and is opened when endpoints are configured (its
 * pending deliveries resume then). Recordings go to DATA_DIR/recordings unless RECORDING_FORMAT=none.
 */
export function createWebhookService(
  config: Config,
  registry: Registry,
  log: FastifyBaseLogger,
): WebhookService {
  const { webhooks } = config;
  const outbox =
    webhooks.endpoints.length > 0
      ? new Outbox(join(config.dataDir, 'voxline.db'), webhooks.outboxSync)
      : undefined;
  const metrics = new WebhookMetrics(registry, outbox);
  const dispatcher = outbox ? new Dispatcher(outbox, webhooks, log, metrics) : undefined;
  const recording = webhooks.recording.format !== 'none';
  const publisher =
    outbox && dispatcher
      ? new WebhookPublisher({
          outbox,
          dispatcher,
          endpoints: webhooks.endpoints,
          publicUrl: config.publicUrl,
          recording,
          log,
          onStored: (type) => metrics.stored.inc({ type }),
          onStoreFailed: () => metrics.storeFailures.inc(),
        })
      : undefined;
  const recordings =
    webhooks.recording.format === 'none'
      ? undefined
      : new Recordings(
          config.dataDir,
          webhooks.recording.format,
          webhooks.recording.retentionHours,
          log,
          (call, info) => publisher?.recordingReady(call, info),
        );
  return {
    outbox,
    dispatcher,
    recordings,
    observers: publisher ? [publisher] : [],
    consumers: recordings ? [recordings.consumer] : [],
    start() {
      dispatcher?.start();
      recordings?.startRetention();
    },
    async close(timeoutMs) {
      recordings?.stop();
      await dispatcher?.stop(timeoutMs);
      outbox?.close();
    },
  };
}
