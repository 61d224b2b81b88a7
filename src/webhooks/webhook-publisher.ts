import type { FastifyBaseLogger } from 'fastify';
import type { AgentActionRecord } from '../agent/agent-summary.js';
import type { Call, CallObserver } from '../calls/call.js';
import type { DtmfRecord } from '../calls/call-log.js';
import { type Clock, systemClock } from '../clock.js';
import { LogBudget } from '../observability/log-budget.js';
import type { RecordingInfo } from '../recording/call-recorder.js';
import { recordingChannelSpeakers } from '../recording/recording-channels.js';
import { summarize } from './call-summary.js';
import type { Dispatcher } from './dispatcher.js';
import type { EventData, EventType } from './event-schemas.js';
import type { OutboxStore } from './outbox-store.js';
import type { WebhookEndpoint } from './webhook-config.js';

export interface PublisherOptions {
  readonly outbox: OutboxStore;
  readonly dispatcher: Dispatcher;
  readonly endpoints: readonly WebhookEndpoint[];
  /** Origin for recording URLs (recordings kept on local disk). */
  readonly publicUrl: string;
  /** Whether a recording.ready will come for each call (call.ended waits for it). */
  readonly recording: boolean;
  readonly log: FastifyBaseLogger;
  /** Stamps each event's occurredAt (wallNow); the system clock by default. */
  readonly clock?: Clock;
  readonly onStored?: (type: EventType) => void;
  readonly onStoreFailed?: () => void;
}

/**
 * Turns a call's life into webhook events and commits them to the outbox: call.started,
 * transcript.partial / transcript.final (from the call's transcript), dtmf, recording.ready, and
 * call.ended last (once the transcript is complete and the recording closed), with the whole
 * speaker-labelled transcript and conversation figures. An event no endpoint subscribes to is
 * not stored, so `seq` counts the events actually sent.
 */
export class WebhookPublisher implements CallObserver {
  readonly #o: PublisherOptions;
  readonly #pending = new Map<string, { transcript: boolean; recording: boolean }>();
  readonly #storeFailureLog: LogBudget;

  constructor(options: PublisherOptions) {
    this.#o = options;
    const clock = options.clock ?? systemClock;
    this.#storeFailureLog = new LogBudget(10, 60_000, () => clock.now());
  }

  callStarted(call: Call): void {
    const s = call.start;
    this.#pending.set(call.callSid, { transcript: false, recording: !this.#o.recording });
    this.publish(call, 'call.started', {
      ingress: s.ingress,
      streamSid: s.streamSid,
      ...(s.accountSid === undefined ? {} : { accountSid: s.accountSid }),
      mode: s.mode,
      legs: s.legs.map((l) => ({ speaker: l.label, track: l.track })),
      ...(s.participants ? { participants: s.participants.map((p) => ({ ...p })) } : {}),
      customParameters: { ...s.customParameters },
      startedAt: call.startedAt.toISOString(),
    });
    call.transcript.subscribe((event) => {
      if (event.type === 'partial') {
        const { leg, utteranceId, text, startMs, audioMs } = event;
        this.publish(call, 'transcript.partial', { speaker: leg, utteranceId, text, startMs, audioMs });
      } else if (event.type === 'final') {
        const {
          leg,
          utteranceId,
          text,
          startMs,
          endMs,
          words,
          recovered,
          engine,
          interrupted,
          delayed,
          lagMs,
        } = event;
        this.publish(call, 'transcript.final', {
          speaker: leg,
          utteranceId,
          text,
          startMs,
          endMs,
          words: words.map((w) => ({ ...w })),
          recovered,
          engine,
          ...(interrupted ? { interrupted } : {}),
          ...(delayed ? { delayed } : {}),
          ...(lagMs !== undefined ? { lagMs } : {}),
        });
      } else if (event.type === 'end') this.#settle(call, 'transcript');
    });
  }

  dtmf(call: Call, record: DtmfRecord & { readonly leg: string }): void {
    this.publish(call, 'dtmf', { digit: record.digit, speaker: record.leg, atMs: record.atMs });
  }

  paused(call: Call, change: { readonly paused: boolean; readonly atMs: number; readonly by: string }): void {
    const { atMs, by } = change;
    this.publish(call, change.paused ? 'recording.paused' : 'recording.resumed', { atMs, by });
  }

  agentAction(call: Call, record: AgentActionRecord): void {
    this.publish(call, 'agent.action', { ...record });
  }

  recordingReady(call: Call, info: RecordingInfo | undefined): void {
    if (info) {
      this.publish(call, 'recording.ready', {
        // The object's s3:// URL with RECORDING_STORE=s3://…, else voxline's own (local file).
        url: info.objectUrl ?? `${this.#o.publicUrl}/v1/calls/${call.callSid}/recording`,
        sha256: info.sha256,
        durationMs: Math.round(info.durationMs),
        bytes: info.bytes,
        format: info.format,
        sampleRate: info.sampleRate,
        channels: recordingChannelSpeakers(call.start),
        ...(info.redaction ? { redaction: info.redaction } : {}),
        ...(info.encrypted ? { encrypted: { keyId: info.encrypted.keyId } } : {}),
      });
    }
    this.#settle(call, 'recording');
  }

  #settle(call: Call, part: 'transcript' | 'recording'): void {
    const pending = this.#pending.get(call.callSid);
    if (!pending || pending[part]) return;
    pending[part] = true;
    if (!pending.transcript || !pending.recording || call.state !== 'ended') return;
    this.#pending.delete(call.callSid);
    this.publish(call, 'call.ended', endedData(call));
  }

  /**
   * Commits one event of the call (after its end too: post-call work and alerts publish here), to
   * every endpoint that subscribes to its type; none: nothing is stored.
   */
  publish<T extends EventType>(call: Pick<Call, 'callSid' | 'log'>, type: T, data: EventData<T>): void {
    const targets = this.#o.endpoints.filter((e) => e.events.has(type)).map((e) => e.id);
    if (targets.length === 0) return;
    // Appends are queued in call order (seq follows it) and committed in groups; an event counts
    // as emitted, and is handed to the dispatcher, only once it is committed.
    this.#o.outbox.append(call.callSid, type, data, targets, (this.#o.clock ?? systemClock).wallNow()).then(
      () => {
        this.#o.onStored?.(type);
        this.#o.dispatcher.notify(targets);
      },
      (err: unknown) => {
        // Nothing was committed: the event is lost, loudly (disk full, database gone), but with
        // the store down every event fails: ten lines a minute at error, the rest at debug, all
        // counted (voxline_webhook_store_failures_total).
        const level = this.#storeFailureLog.level('store') === 'warn' ? 'error' : 'debug';
        call.log[level]({ err, type }, 'webhook event could not be stored');
        this.#o.onStoreFailed?.();
      },
    );
  }
}

function endedData(call: Call): EventData<'call.ended'> {
  const transcript = call.transcript.snapshot();
  const endedAt = call.endedAt ?? new Date();
  const durationMs = endedAt.getTime() - call.startedAt.getTime();
  const utterances = transcript.utterances.map((u) => ({
    speaker: u.speaker,
    text: u.text,
    startMs: u.startMs,
    endMs: u.endMs,
    words: u.words.map((w) => ({ ...w })),
    recovered: u.recovered,
    ...(u.interrupted ? { interrupted: true } : {}),
    ...(u.delayed ? { delayed: true } : {}),
    ...(u.lagMs !== undefined ? { lagMs: u.lagMs } : {}),
  }));
  const summary = summarize(utterances, durationMs);
  return {
    endReason: call.endReason ?? 'unknown',
    startedAt: call.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs,
    transcript: utterances,
    talkTimeMs: summary.talkTimeMs,
    overlaps: summary.overlaps,
    interruptions: summary.interruptions,
    longestSilenceMs: summary.longestSilenceMs,
    transcriptionErrors: transcript.errors.length,
    ...(call.agent ? { agent: structuredClone(call.agent) } : {}),
    // A pause still on at hang-up lasted to the end of the call.
    ...(call.pauses.length > 0
      ? { pauses: call.pauses.map((p) => ({ startMs: p.startMs, endMs: p.endMs ?? durationMs, by: p.by })) }
      : {}),
  };
}
