import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { CallStore } from '../calls/call-store.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { VoxlineError } from '../errors.js';
import { PostcallMetrics } from '../observability/postcall-metrics.js';
import { readRecordingWav } from '../recording/recording-reader.js';
import type { Recordings } from '../recording/recordings.js';
import type { WebhookPublisher } from '../webhooks/webhook-publisher.js';
import type { BatchTranscriber } from './batch-transcription.js';
import { CallAnalyzer } from './call-analyzer.js';
import { MistralBatchTranscriber } from './mistral-batch.js';
import { OpenAiBatchTranscriber } from './openai-batch.js';
import type { PostcallConfig } from './postcall-config.js';
import { type Analyzer, PostcallService } from './postcall-service.js';

export interface PostcallDeps {
  readonly store: CallStore;
  readonly recordings: Recordings | undefined;
  readonly publisher: WebhookPublisher | undefined;
  readonly registry: Registry;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  /** Tests put doubles behind the real clients' wire; nothing else is replaced. */
  readonly fetch?: typeof fetch;
}

/** The post-call service as configured: the batch engine's client, the analyzer, the queue. */
export function openPostcall(config: Config, deps: PostcallDeps): PostcallService {
  const recordings = deps.recordings;
  const transcriber = config.postcall ? batchTranscriber(config.postcall, deps.clock) : undefined;
  const analyzer: Analyzer | undefined = config.analysis
    ? new CallAnalyzer(config.analysis, { clock: deps.clock })
    : undefined;
  return new PostcallService({
    config: config.postcall,
    transcriber,
    analyzer,
    recorded: recordings !== undefined,
    store: deps.store,
    readWav: (callSid, signal) => {
      if (!recordings)
        throw new VoxlineError('VL_ERR_RECORDING_NOT_FOUND', `${callSid}: calls are not recorded`);
      return readRecordingWav(callSid, recordings, signal);
    },
    publish: (call, type, data) => deps.publisher?.publish(call, type, data),
    clock: deps.clock,
    metrics: (queue) => new PostcallMetrics(deps.registry, queue),
    // Read when an event is built: a server bound to port 0 knows its URL only later.
    publicUrl: () => config.publicUrl,
    log: deps.log,
  });
}

function batchTranscriber(c: PostcallConfig, clock: Clock): BatchTranscriber {
  const common = {
    baseUrl: c.baseUrl,
    model: c.model,
    timeoutMs: c.timeoutMs,
    maxChunkMs: c.maxChunkMs,
    clock,
  };
  return c.engine === 'mistral'
    ? new MistralBatchTranscriber({ ...common, apiKey: c.apiKey ?? '' })
    : new OpenAiBatchTranscriber({ ...common, ...(c.apiKey ? { apiKey: c.apiKey } : {}) });
}
