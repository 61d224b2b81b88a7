import type { FastifyBaseLogger } from 'fastify';
import type { LegConsumerFactory } from '../calls/call-registry.js';
import type { AsrMetrics } from '../observability/asr-metrics.js';
import type { AsrConfig } from './asr-config.js';
import { LegTranscriber, type TranscriberOptions } from './leg-transcriber.js';
import { LocalEngine } from './local/local-engine.js';
import { MistralEngine } from './mistral/mistral-engine.js';
import type { SpeechToText } from './stt.js';
import type { SileroVad } from './vad/silero-vad.js';
import { VllmEngine } from './vllm/vllm-engine.js';

/** The configured engine, or undefined for ASR_ENGINE=none. */
export function createEngine(
  config: AsrConfig,
  metrics: AsrMetrics,
  log: FastifyBaseLogger,
): SpeechToText | undefined {
  const observer = metrics.observer();
  if (config.engine === 'local') {
    const { local } = config;
    const engine = new LocalEngine({
      model: {
        model: local.model,
        path: local.path,
        dtype: local.dtype,
        device: local.device,
        cacheDir: local.cacheDir,
        endpoint: local.endpoint,
        matmulAccuracy: local.matmulAccuracy,
        threads: local.threads,
        threadSpinning: local.threadSpinning,
      },
      instances: local.instances,
      maxQueuedMs: local.maxQueuedMs,
      maxBufferMs: config.limits.maxBufferMs,
      maxUtteranceMs: config.maxUtteranceMs,
      observer,
      log,
    });
    metrics.watchLocalEngine(() => engine.load());
    return engine;
  }
  if (config.engine === 'vllm') {
    const engine = new VllmEngine({
      urls: config.vllm.urls,
      model: config.vllm.model,
      apiKey: config.vllm.apiKey,
      limits: config.limits,
      observer,
    });
    return engine;
  }
  if (config.engine === 'mistral') {
    return new MistralEngine({
      baseUrl: config.mistral.baseUrl,
      apiKey: config.mistral.apiKey ?? '',
      model: config.mistral.model,
      audioFormat: config.mistral.audioFormat,
      delayMs: config.mistral.delayMs,
      sessionMaxMs: config.mistral.sessionMaxMs,
      maxUtteranceMs: config.maxUtteranceMs,
      maxSessions: config.mistral.maxSessions,
      limits: config.limits,
      observer,
    });
  }
  return undefined;
}

/** `track`: the leg's track, what the VAD metrics count by. */
export function transcriberOptions(
  config: AsrConfig,
  metrics: AsrMetrics,
  track: string,
  minSilenceMs = config.vad.minSilenceMs,
): TranscriberOptions {
  return {
    segmenter: {
      threshold: config.vad.threshold,
      minSpeechMs: config.vad.minSpeechMs,
      minSilenceMs,
      maxUtteranceMs: config.maxUtteranceMs,
    },
    prerollMs: config.vad.prerollMs,
    gateDbfs: config.vad.gateDbfs,
    finalTimeoutMs: config.limits.doneTimeoutMs,
    observeVad: (cpuMs, audioMs) => metrics.vad(track, cpuMs, audioMs),
  };
}

/**
 * Transcribes every leg: a stream on the engine per leg, segmented by the VAD, writing into the
 * call's transcript and telling the call when speech starts and ends. On agent calls the caller's
 * turn ends after `agentTurnSilenceMs` of silence. Closing the call waits (bounded) for each leg's
 * last final.
 */
export function transcriptionConsumer(
  engine: SpeechToText,
  vad: SileroVad | undefined,
  config: AsrConfig,
  metrics: AsrMetrics,
  agentTurnSilenceMs = config.vad.minSilenceMs,
): LegConsumerFactory {
  return (call, leg) => {
    const log = call.log.child({ leg: leg.label });
    const stt = engine.stream({
      callSid: call.callSid,
      leg: leg.label,
      track: leg.track,
      log,
      clock: call.scope.clock,
      onEvent: (event) => {
        metrics.event(event);
        call.transcript.add(event);
      },
      // Audio no engine will transcribe cannot be checked for what it says: a redacted recording masks it.
      onLost: (startMs, endMs) => call.audioRedaction?.mask(leg.label, startMs, endMs, 'untranscribed'),
    });
    const minSilenceMs = call.start.mode === 'agent' ? agentTurnSilenceMs : config.vad.minSilenceMs;
    const options: TranscriberOptions = {
      ...transcriberOptions(config, metrics, leg.track, minSilenceMs),
      onSpeech: (type, atMs) => call.speech.emit({ leg: leg.label, type, atMs }),
      // The leg's last final is awaited while the scope closes: on the call's clock, not its timers.
      clock: call.scope.clock,
    };
    const transcriber = new LegTranscriber(stt, vad, options, log);
    // A redacted recording writes this leg's audio only once its transcript is final.
    call.audioRedaction?.hold(leg.label, () => transcriber.pendingFromMs());
    call.scope.defer(() => {
      transcriber.end();
      return transcriber.done;
    });
    return transcriber;
  };
}
