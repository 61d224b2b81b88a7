import { Counter, Gauge, type Registry } from 'prom-client';
import { type LoadGovernor, OVERLOAD_REASONS } from '../calls/load-governor.js';

/**
 * The load governor's state and refusals, read at scrape time. `reason` takes the three fixed
 * values of OverloadReason only (each present from 0, so a rate() works before the first refusal).
 */
export class OverloadMetrics {
  constructor(registry: Registry, governor: Pick<LoadGovernor, 'state' | 'refusals'>) {
    const registers = [registry];
    new Gauge({
      name: 'voxline_overloaded',
      help: 'New calls refused for load: 1 on the measure over its limit (event_loop_lag, cpu, memory), else 0',
      labelNames: ['reason'],
      registers,
      collect() {
        const { reason } = governor.state;
        for (const r of OVERLOAD_REASONS) this.set({ reason: r }, r === reason ? 1 : 0);
      },
    });
    new Counter({
      name: 'voxline_overload_refusals_total',
      help: 'New calls refused because the process was overloaded, by the measure over its limit',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of governor.refusals()) this.inc({ reason }, n);
      },
    });
  }
}
