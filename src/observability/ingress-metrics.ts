import { Counter, Histogram, type Registry } from 'prom-client';
import type { Ingress } from '../carriers/carrier.js';

/** Plain totals an edge bumps on its hot path; prom-client reads them at scrape time. */
export interface IngressTotals {
  rtpPackets: number;
  rtpLost: number;
  rtpBytes: number;
}

const INGRESSES: readonly Ingress[] = [
  'twilio',
  'sip',
  'siprec',
  'audiosocket',
  'browser',
  'telnyx',
  'plivo',
  'vonage',
  'freeswitch',
  'asterisk-ws',
  'signalwire',
  'jambonz',
  'exotel',
  'ari',
];

/** Per-ingress metrics: calls, refusals, RTP packets, loss and jitter. */
export class IngressMetrics {
  readonly totals = new Map<Ingress, IngressTotals>(
    INGRESSES.map((i) => [i, { rtpPackets: 0, rtpLost: 0, rtpBytes: 0 }]),
  );
  readonly refused: Counter<'ingress' | 'reason'>;
  readonly jitter: Histogram<'ingress'>;
  /** Unexpected throws an edge contained: the message refused or the call ended, the process went on. */
  readonly failures: Counter<'ingress'>;

  /** `callsByIngress` is read at scrape time (calls are counted by the call registry). */
  constructor(registry: Registry, callsByIngress: () => ReadonlyMap<string, number>) {
    const registers = [registry];
    const totals = this.totals;
    const fromTotals = (name: string, help: string, pick: (t: IngressTotals) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['ingress'],
        registers,
        collect() {
          this.reset();
          for (const [ingress, t] of totals) this.inc({ ingress }, pick(t));
        },
      });
    new Counter({
      name: 'voxline_ingress_calls_total',
      help: 'Calls taken, by ingress',
      labelNames: ['ingress'],
      registers,
      collect() {
        this.reset();
        for (const [ingress, n] of callsByIngress()) this.inc({ ingress }, n);
      },
    });
    fromTotals(
      'voxline_rtp_packets_total',
      'RTP packets received (audio and DTMF), by ingress',
      (t) => t.rtpPackets,
    );
    fromTotals(
      'voxline_rtp_packets_lost_total',
      'RTP packets that never arrived (sequence gaps), by ingress',
      (t) => t.rtpLost,
    );
    this.refused = new Counter({
      name: 'voxline_ingress_refused_total',
      help: 'Calls or packets refused at an edge, by ingress and reason',
      labelNames: ['ingress', 'reason'],
      registers,
    });
    this.failures = new Counter({
      name: 'voxline_edge_failures_total',
      help: 'Unexpected errors contained at an edge (that message refused or that call ended), by ingress',
      labelNames: ['ingress'],
      registers,
    });
    this.jitter = new Histogram({
      name: 'voxline_rtp_jitter_seconds',
      help: 'Largest RFC 3550 interarrival jitter of each RTP stream, observed when its call ends',
      labelNames: ['ingress'],
      buckets: [0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32],
      registers,
    });
  }

  of(ingress: Ingress): IngressTotals {
    return this.totals.get(ingress) as IngressTotals;
  }
}
