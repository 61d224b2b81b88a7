import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LocalEngineLoad } from '../asr/local/local-engine.js';
import type { StreamObserver } from '../asr/realtime-options.js';
import type { EngineHealth } from '../asr/stt.js';
import type { SttErrorCode, TranscriptEvent } from '../asr/transcript-event.js';
import { trackLabel } from './metrics.js';

/** Speech-to-text metrics, registered on the app's registry. */
export class AsrMetrics {
  readonly #latency: Histogram<'kind' | 'engine'>;
  readonly #rtf: Histogram<'engine'>;
  readonly #reconnects: Counter<'engine'>;
  // By track, never by leg label: labels are the caller's to choose and would be series kept forever.
  readonly #audioSent: Counter<'engine' | 'track'>;
  readonly #dropped: Counter<'engine' | 'track' | 'reason'>;
  readonly #events: Counter<'engine' | 'type' | 'code'>;
  readonly #vadCpu: Counter<'track'>;
  readonly #vadAudio: Counter<'track'>;
  readonly #vadRestarts: Counter;
  readonly #endpointUp: Gauge<'engine' | 'endpoint' | 'state'>;
  readonly #finalLag: Histogram<'engine'>;
  readonly #delayedFinals: Counter<'engine'>;
  readonly #sessionRotations: Counter<'engine'>;
  readonly #sessionWait: Histogram<'engine'>;
  #localLoad: (() => LocalEngineLoad) | undefined;
  readonly engine: string;

  constructor(registry: Registry, engine: string) {
    const registers = [registry];
    this.engine = engine;
    this.#rtf = new Histogram({
      name: 'voxline_asr_real_time_factor',
      help: 'In-process engine: compute time over audio time per utterance (above 1 it falls behind real time)',
      labelNames: ['engine'],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5],
      registers: [registry],
    });
    this.#latency = new Histogram({
      name: 'voxline_transcript_latency_seconds',
      help: 'From the arrival of the audio a transcript covers to the transcript event (partial or final)',
      labelNames: ['kind', 'engine'],
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
    this.#reconnects = new Counter({
      name: 'voxline_asr_reconnects_total',
      help: 'Speech engine connections re-opened after a drop, an error or a stall',
      labelNames: ['engine'],
      registers,
    });
    this.#audioSent = new Counter({
      name: 'voxline_asr_audio_sent_seconds_total',
      help: 'Audio written to the speech engine (re-sent audio counts again), by track',
      labelNames: ['engine', 'track'],
      registers,
    });
    this.#dropped = new Counter({
      name: 'voxline_asr_audio_dropped_ms_total',
      help: 'Audio the speech engine never transcribed, by track and reason',
      labelNames: ['engine', 'track', 'reason'],
      registers,
    });
    this.#events = new Counter({
      name: 'voxline_transcript_events_total',
      help: 'Transcript events emitted, by type (and error code)',
      labelNames: ['engine', 'type', 'code'],
      registers,
    });
    this.#vadCpu = new Counter({
      name: 'voxline_vad_cpu_seconds_total',
      help: 'Time spent in the VAD model, by track (divide by voxline_vad_audio_seconds_total for cost per leg-second)',
      labelNames: ['track'],
      registers,
    });
    this.#vadAudio = new Counter({
      name: 'voxline_vad_audio_seconds_total',
      help: 'Audio examined by the VAD (model or silence gate), by track',
      labelNames: ['track'],
      registers,
    });
    this.#vadRestarts = new Counter({
      name: 'voxline_vad_worker_restarts_total',
      help: 'VAD worker threads started again after one died (the windows it held were judged by level)',
      registers,
    });
    this.#finalLag = new Histogram({
      name: 'voxline_asr_final_lag_seconds',
      help: 'In-process engine: from the end of an utterance to its final (late when the model is behind or busy)',
      labelNames: ['engine'],
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#delayedFinals = new Counter({
      name: 'voxline_asr_delayed_finals_total',
      help: 'In-process engine: finals marked delayed (complete, but long after their speech ended)',
      labelNames: ['engine'],
      registers,
    });
    this.#sessionRotations = new Counter({
      name: 'voxline_asr_session_rotations_total',
      help: 'Engine sessions replaced between utterances before their age limit (Mistral: MISTRAL_SESSION_MAX_MS)',
      labelNames: ['engine'],
      registers,
    });
    this.#sessionWait = new Histogram({
      name: 'voxline_asr_session_wait_seconds',
      help: 'How long a leg waited for an engine session under the cap on open sessions (Mistral: MISTRAL_MAX_SESSIONS)',
      labelNames: ['engine'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers,
    });
    // Read on every scrape: the in-process models' queue changes faster than the probe interval.
    const localLoad = () => this.#localLoad?.();
    const gauge = (name: string, help: string, read: (load: LocalEngineLoad) => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect(this: Gauge) {
          const load = localLoad();
          const value = load && read(load);
          if (value !== undefined) this.set(value);
        },
      });
    gauge(
      'voxline_asr_local_queued_utterances',
      'In-process engine: utterances waiting for a model',
      (l) => l.queuedUtterances,
    );
    gauge(
      'voxline_asr_local_held_audio_seconds',
      'In-process engine: speech all legs hold for the models, waiting or being transcribed (bounded by LOCAL_QUEUE_MAX_MS)',
      (l) => l.heldAudioMs / 1000,
    );
    gauge(
      'voxline_asr_local_backlog_seconds',
      'In-process engine: about how long the held speech takes to transcribe at the current real-time factor',
      (l) => l.backlogMs / 1000,
    );
    gauge(
      'voxline_asr_local_real_time_factor',
      'In-process engine: compute over audio time of recent utterances, smoothed (above 1: behind real time)',
      (l) => l.realTimeFactor,
    );
    gauge('voxline_asr_local_running', 'In-process engine: generations running now', (l) => l.running);
    this.#endpointUp = new Gauge({
      name: 'voxline_asr_endpoint_state',
      help: '1 for the state each speech engine endpoint was last probed in',
      labelNames: ['engine', 'endpoint', 'state'],
      registers,
    });
  }

  observer(): StreamObserver {
    const engine = this.engine;
    return {
      latency: (kind, seconds) => this.#latency.observe({ kind, engine }, seconds),
      reconnect: () => this.#reconnects.inc({ engine }),
      realTimeFactor: (_leg, ratio) => this.#rtf.observe({ engine }, ratio),
      audioSent: (track, seconds) => this.#audioSent.inc({ engine, track: trackLabel(track) }, seconds),
      dropped: (track: string, ms: number, reason: SttErrorCode) =>
        this.#dropped.inc({ engine, track: trackLabel(track), reason }, ms),
      sessionRotated: () => this.#sessionRotations.inc({ engine }),
      sessionWaited: (seconds) => this.#sessionWait.observe({ engine }, seconds),
    };
  }

  /** The in-process engine's queue, read on every scrape. */
  watchLocalEngine(read: () => LocalEngineLoad): void {
    this.#localLoad = read;
  }

  event(event: TranscriptEvent): void {
    if (event.type === 'final' && event.lagMs !== undefined) {
      this.#finalLag.observe({ engine: this.engine }, event.lagMs / 1000);
      if (event.delayed) this.#delayedFinals.inc({ engine: this.engine });
    }
    this.#events.inc({
      engine: this.engine,
      type: event.type,
      code: event.type === 'error' ? event.code : '',
    });
  }

  /** `track`: the leg's track (`inbound` / `outbound`), not its label. */
  vad(track: string, cpuMs: number, audioMs: number): void {
    const labels = { track: trackLabel(track) };
    if (cpuMs > 0) this.#vadCpu.inc(labels, cpuMs / 1000);
    this.#vadAudio.inc(labels, audioMs / 1000);
  }

  vadRestarted(): void {
    this.#vadRestarts.inc();
  }

  health(health: EngineHealth): void {
    this.#endpointUp.reset();
    for (const e of health.endpoints)
      this.#endpointUp.set({ engine: health.engine, endpoint: e.url, state: e.state }, 1);
  }
}
