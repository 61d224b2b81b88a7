import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { Call, CallObserver } from '../calls/call.js';
import type { LegConsumerFactory } from '../calls/call-registry.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { Config } from '../config.js';
import { Keyring } from '../crypto/keyring.js';
import { WebhookMetrics } from '../observability/webhook-metrics.js';
import type { RecordingInfo } from '../recording/call-recorder.js';
import { RecordingUploads } from '../recording/recording-uploads.js';
import { Recordings } from '../recording/recordings.js';
import { Dispatcher } from './dispatcher.js';
import type { OutboxStore, PruneResult } from './outbox-store.js';
import { SqliteOutboxStore } from './sqlite-outbox-store.js';
import { WebhookPublisher } from './webhook-publisher.js';

/** Outbox, dispatcher, publisher and recordings, wired from config; what buildApp plugs in. */
export interface WebhookService {
  readonly outbox: OutboxStore | undefined;
  readonly dispatcher: Dispatcher | undefined;
  readonly recordings: Recordings | undefined;
  readonly observers: readonly CallObserver[];
  /** What commits events to the outbox (undefined without endpoints): post-call work publishes through it. */
  readonly publisher: WebhookPublisher | undefined;
  readonly consumers: readonly LegConsumerFactory[];
  /** Starts deliveries, the recordings' retention and the outbox's (now, then every hour). */
  start(): void;
  /**
   * Deletes what the outbox no longer needs (OUTBOX_RETENTION_DAYS); the timer calls it. Resolves
   * with what went (undefined with no outbox); a call while one runs waits for that one.
   */
  pruneOutbox(): Promise<PruneResult | undefined>;
  /** After the calls have drained: stops deliveries (bounded wait for those in flight), closes the database. */
  close(timeoutMs: number): Promise<void>;
}

export interface WebhookServiceDeps {
  /** The clock retention measures age by (default: the clock's wallNow, else Date.now). */
  readonly now?: () => number;
  /** The clock deliveries, retries, recordings and pruning run on; the system clock by default. */
  readonly clock?: Clock;
  /** This instance's name, shown on the delivery leases it takes (with a random suffix per start). */
  readonly instance?: string;
  /** Told of each finished recording, and of each upload confirmed (the call store keeps both). */
  readonly recordingObserver?: RecordingObserver;
  /** Seals the outbox's event bodies at rest; by default one from ENCRYPTION_KEY (config.encryption). */
  readonly keyring?: Keyring;
}

export interface RecordingObserver {
  recordingReady(call: Call, info: RecordingInfo): void;
  /** Every call's recording settled: finished (`info`), or none came (not recorded, or it failed). */
  recordingSettled?(call: Call, info: RecordingInfo | undefined): void;
  recordingUploaded(callSid: string): void;
}

/** How often the outbox is pruned: retention is in days, so hourly keeps it within 1/24 of one. */
export const OUTBOX_PRUNE_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The outbox lives at DATA_DIR/voxline.db and is opened when endpoints are configured (its
 * pending deliveries resume then). Recordings go to DATA_DIR/recordings unless RECORDING_FORMAT=none,
 * and from there to the bucket with RECORDING_STORE=s3://….
 */
export async function createWebhookService(
  config: Config,
  registry: Registry,
  log: FastifyBaseLogger,
  deps: WebhookServiceDeps = {},
): Promise<WebhookService> {
  const { webhooks } = config;
  const clock = deps.clock ?? systemClock;
  const now = deps.now ?? (() => clock.wallNow());
  const outboxKeyring = deps.keyring ?? (config.encryption ? new Keyring(config.encryption) : undefined);
  const outbox = webhooks.endpoints.length > 0 ? await openOutbox(config, outboxKeyring) : undefined;
  const metrics = new WebhookMetrics(registry, outbox);
  const owner = deps.instance ? `${deps.instance}/${randomBytes(3).toString('hex')}` : undefined;
  const dispatcher = outbox ? new Dispatcher(outbox, webhooks, log, metrics, clock, { owner }) : undefined;
  const recording = webhooks.recording.format !== 'none';
  const publisher =
    outbox && dispatcher
      ? new WebhookPublisher({
          outbox,
          dispatcher,
          endpoints: webhooks.endpoints,
          // Read when an event is built, not now: a server bound to port 0 knows its URL only later.
          get publicUrl() {
            return config.publicUrl;
          },
          recording,
          log,
          clock,
          onStored: (type) => metrics.stored.inc({ type }),
          onStoreFailed: () => metrics.storeFailures.inc(),
        })
      : undefined;
  // RECORDING_STORE=s3://…: each finished file is uploaded, and deleted once confirmed (the AWS
  // SDK is loaded only then).
  const uploads =
    config.recordingStore && webhooks.recording.format !== 'none'
      ? new RecordingUploads(
          new (await import('../recording/object-store.js')).S3ObjectStore(config.recordingStore, clock, log),
          config.recordingStore,
          log,
          clock,
          Math.random,
          (callSid) => deps.recordingObserver?.recordingUploaded(callSid),
        )
      : undefined;
  const recordings =
    webhooks.recording.format === 'none'
      ? undefined
      : new Recordings(
          config.dataDir,
          webhooks.recording.format,
          webhooks.recording.retentionHours,
          log,
          (call, info) => {
            if (info) deps.recordingObserver?.recordingReady(call, info);
            publisher?.recordingReady(call, info);
            deps.recordingObserver?.recordingSettled?.(call, info);
          },
          clock,
          uploads,
          config.encryption ? new Keyring(config.encryption) : undefined,
        );

  // Retention: without it delivered events and every call's sequence row would stay forever.
  const retentionMs = config.outbox.retentionDays * DAY_MS;
  const stopPruning = new AbortController();
  let pruneTimer: TimerHandle | undefined;
  let pruning: Promise<PruneResult | undefined> | undefined;
  const pruneOutbox = (): Promise<PruneResult | undefined> => {
    if (!outbox || stopPruning.signal.aborted) return Promise.resolve(undefined);
    pruning ??= outbox
      .prune(now() - retentionMs, { signal: stopPruning.signal })
      .then(
        (pruned) => {
          if (pruned.events > 0 || pruned.sequences > 0) {
            log.info({ ...pruned, retentionDays: config.outbox.retentionDays }, 'webhook outbox pruned');
          }
          return pruned;
        },
        (err: unknown) => {
          log.error({ err }, 'webhook outbox prune failed; the next one will try again');
          return undefined;
        },
      )
      .finally(() => {
        pruning = undefined;
      });
    return pruning;
  };

  return {
    outbox,
    dispatcher,
    recordings,
    observers: publisher ? [publisher] : [],
    publisher,
    consumers: recordings ? [recordings.consumer] : [],
    start() {
      dispatcher?.start();
      recordings?.startRetention();
      if (outbox && !pruneTimer) {
        void pruneOutbox();
        pruneTimer = clock.setInterval(() => void pruneOutbox(), OUTBOX_PRUNE_INTERVAL_MS);
        pruneTimer.unref();
      }
    },
    pruneOutbox,
    async close(timeoutMs) {
      recordings?.stop();
      clock.clearInterval(pruneTimer);
      // A prune stops at its next batch; the database must outlive the batch in progress.
      stopPruning.abort();
      await pruning;
      await dispatcher?.stop(timeoutMs);
      await outbox?.close();
    },
  };
}

/** PostgreSQL when DATABASE_URL is set (imported only then), else DATA_DIR/voxline.db. */
async function openOutbox(config: Config, keyring: Keyring | undefined): Promise<OutboxStore> {
  if (!config.database)
    return new SqliteOutboxStore(join(config.dataDir, 'voxline.db'), config.webhooks.outboxSync, keyring);
  const [{ openOnPostgres }, { OUTBOX_POOL, PostgresOutboxStore }] = await Promise.all([
    import('../store/postgres.js'),
    import('./postgres-outbox-store.js'),
  ]);
  return openOnPostgres(
    config.database.url,
    'the outbox',
    (pool) => PostgresOutboxStore.open(pool, keyring),
    OUTBOX_POOL,
  );
}
