import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { IngressMetrics } from './ingress-metrics.js';

/*
 * Label values come from small fixed sets: every distinct value is a series Prometheus (and this
 * registry) keeps forever, so nothing a caller or peer chooses (leg labels, close codes, reason
 * phrases, error text) may become one as it is.
 */

const TRACKS = new Set(['inbound', 'outbound']);

/** A leg's track as a label value: `inbound`, `outbound`, or `other`. */
export function trackLabel(track: string): string {
  return TRACKS.has(track) ? track : 'other';
}

/** Every end reason the edges and the core give, less any detail after a colon. */
const END_REASONS = new Set([
  'stop',
  'bye',
  'hangup',
  'socket_closed',
  'connection_lost',
  'message_too_big',
  'protocol_error',
  'idle_timeout',
  'shutdown',
  'no_ack',
  'agent_end_call',
  'agent_transfer_call',
  'unknown',
]);

/**
 * A call's end reason as a label value. Reasons carry peer detail (`protocol_error: <what the peer
 * sent>`, `socket_closed_<the peer's close code>`, `peer_error_<its error byte>`): the detail goes.
 */
export function endReasonLabel(reason: string): string {
  const head = reason.split(':', 1)[0].trim();
  if (END_REASONS.has(head)) return head;
  if (/^socket_closed_\d+$/.test(head)) return 'socket_closed_abnormal';
  if (/^peer_error_\d+$/.test(head)) return 'peer_error';
  return 'other';
}

/**
 * A WebSocket close code as a label value: the protocol's own (1000–1015) and voxline's 4000 as
 * they are; the application ranges the peer may pick from (3000–4999) folded to `3xxx` / `4xxx`.
 */
export function closeCodeLabel(code: string): string {
  const n = Number(code);
  if (!Number.isInteger(n)) return 'other';
  if ((n >= 1000 && n <= 1015) || n === 4000) return String(n);
  if (n >= 3000 && n <= 3999) return '3xxx';
  if (n >= 4000 && n <= 4999) return '4xxx';
  return 'other';
}

/**
 * Counters summed over every ended call, per track (never per leg label: labels are the caller's
 * to choose, and a key per label would grow without bound); live calls are added at read time.
 */
export interface LegTotals {
  framesReceived: number;
  gapFilledMs: number;
  framesDropped: number;
}

/** What the metrics read from the calls at scrape time (the call registry provides it). */
export interface CallCounts {
  readonly liveCount: number;
  endReasons(): ReadonlyMap<string, number>;
  trackTotals(): ReadonlyMap<string, LegTotals>;
  ingressCounts(): ReadonlyMap<string, number>;
}

/**
 * Prometheus metrics for one app instance (its own registry: no global state). Per-frame numbers
 * are plain integers kept by each leg and summed here only when /metrics is scraped, so the
 * media path pays nothing for them. Rare events (malformed frames, refusals) count directly.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly malformedMessages: Counter<'reason'>;
  readonly signatureRejections: Counter<'route'>;
  readonly callsRefused: Counter<'reason'>;
  /** Takes the raw close code; counts it under closeCodeLabel. */
  readonly socketsClosed: { inc(labels: { readonly code: string }): void };
  readonly ingress: IngressMetrics;

  /** Event-loop lag as the default metrics measure it (since the process started), in ms. */
  async eventLoopLagMs(): Promise<{ p50: number; p99: number; max: number }> {
    const read = async (name: string) => {
      const metric = this.registry.getSingleMetric(`nodejs_eventloop_lag_${name}_seconds`);
      const value = metric ? (await metric.get()).values[0]?.value : undefined;
      return value === undefined ? 0 : Math.round(value * 10_000) / 10;
    };
    return { p50: await read('p50'), p99: await read('p99'), max: await read('max') };
  }

  /** `calls` is read at scrape time (the registry is built after the metrics). */
  constructor(registryOf: () => CallCounts) {
    const registers = [this.registry];
    // Includes nodejs_eventloop_lag_{p50,p90,p99,max}_seconds, from perf_hooks.monitorEventLoopDelay.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });

    this.ingress = new IngressMetrics(this.registry, () => registryOf().ingressCounts());
    this.malformedMessages = new Counter({
      name: 'voxline_malformed_messages_total',
      help: 'Carrier messages rejected, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.signatureRejections = new Counter({
      name: 'voxline_carrier_signature_rejections_total',
      help: "Carrier webhooks and media upgrades refused for a missing or invalid signature or stream token, by route (plivo_…, telnyx_…; Twilio's routes unprefixed)",
      labelNames: ['route'],
      registers,
    });
    this.callsRefused = new Counter({
      name: 'voxline_calls_refused_total',
      help: 'Media streams refused before a call was set up, by reason',
      labelNames: ['reason'],
      registers,
    });
    const socketsClosed = new Counter({
      name: 'voxline_media_sockets_closed_total',
      help: 'Media WebSockets closed, by close code (3xxx / 4xxx: application codes other than 4000)',
      labelNames: ['code'],
      registers,
    });
    this.socketsClosed = { inc: ({ code }) => socketsClosed.inc({ code: closeCodeLabel(code) }) };
    new Gauge({
      name: 'voxline_calls_live',
      help: 'Calls with a live media stream',
      registers,
      collect() {
        this.set(registryOf().liveCount);
      },
    });
    new Counter({
      name: 'voxline_calls_ended_total',
      help: 'Calls ended, by reason (without its detail)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of registryOf().endReasons()) this.inc({ reason }, n);
      },
    });
    // By track: a leg's label is the caller's name for it (custom parameters, SIPREC metadata).
    const perTrack = (name: string, help: string, pick: (totals: LegTotals) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['track'],
        registers,
        collect() {
          this.reset();
          for (const [track, totals] of registryOf().trackTotals()) this.inc({ track }, pick(totals));
        },
      });
    perTrack('voxline_media_frames_total', 'Media messages received, by track', (t) => t.framesReceived);
    perTrack(
      'voxline_gap_filled_ms_total',
      'Milliseconds of missing audio filled with silence, by track',
      (t) => t.gapFilledMs,
    );
    perTrack(
      'voxline_frames_dropped_total',
      'Media messages dropped as duplicate or late, by track',
      (t) => t.framesDropped,
    );
  }
}
