import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { CallRegistry, LegTotals } from '../calls/call-registry.js';
import { IngressMetrics } from './ingress-metrics.js';

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
  readonly socketsClosed: Counter<'code'>;
  readonly ingress: IngressMetrics;

  /** `calls` is read at scrape time (the registry is built after the metrics). */
  constructor(registryOf: () => CallRegistry) {
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
      name: 'voxline_twilio_signature_rejections_total',
      help: 'Requests refused for a missing or invalid X-Twilio-Signature',
      labelNames: ['route'],
      registers,
    });
    this.callsRefused = new Counter({
      name: 'voxline_calls_refused_total',
      help: 'Media streams refused before a call was set up, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.socketsClosed = new Counter({
      name: 'voxline_media_sockets_closed_total',
      help: 'Media WebSockets closed, by close code',
      labelNames: ['code'],
      registers,
    });
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
      help: 'Calls ended, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of registryOf().endReasons()) this.inc({ reason }, n);
      },
    });
    const perLeg = (name: string, help: string, pick: (totals: LegTotals) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['leg'],
        registers,
        collect() {
          this.reset();
          for (const [leg, totals] of registryOf().legTotals()) this.inc({ leg }, pick(totals));
        },
      });
    perLeg('voxline_media_frames_total', 'Media messages received, by leg', (t) => t.framesReceived);
    perLeg(
      'voxline_gap_filled_ms_total',
      'Milliseconds of missing audio filled with silence, by leg',
      (t) => t.gapFilledMs,
    );
    perLeg(
      'voxline_frames_dropped_total',
      'Media messages dropped as duplicate or late, by leg',
      (t) => t.framesDropped,
    );
  }
}
