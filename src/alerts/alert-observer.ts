import { Counter, type Registry } from 'prom-client';
import type { Call, CallObserver } from '../calls/call.js';
import type { EventData, EventType } from '../webhooks/event-schemas.js';
import type { AlertConfig } from './alert-rules.js';
import { CallAlerts } from './call-alerts.js';

/**
 * Live alerts on every call: its transcript as stored and sent (redacted where the call is) goes
 * through the rules of ALERT_RULES_FILE; each alert is a `transcript.alert` event and a count.
 * Deadlines run on the call's scope timers, so they die with the call (a call that ends before
 * a disclosure's deadline raises nothing for it).
 */
export class AlertObserver implements CallObserver {
  readonly #config: AlertConfig;
  readonly #publish: <T extends EventType>(call: Call, type: T, data: EventData<T>) => void;
  readonly #raised: Counter<'kind' | 'severity'>;

  constructor(
    config: AlertConfig,
    publish: <T extends EventType>(call: Call, type: T, data: EventData<T>) => void,
    registry: Registry,
  ) {
    this.#config = config;
    this.#publish = publish;
    this.#raised = new Counter({
      name: 'voxline_transcript_alerts_total',
      help: 'Live alerts raised (ALERT_RULES_FILE), by kind (phrase, missed_disclosure) and severity',
      labelNames: ['kind', 'severity'],
      registers: [registry],
    });
  }

  callStarted(call: Call): void {
    const alerts = new CallAlerts(this.#config, call.scope.timers, (alert) => {
      this.#raised.inc({ kind: alert.kind, severity: alert.severity });
      this.#publish(call, 'transcript.alert', { ...alert });
    });
    // Until the transcript's end (after the call's scope has closed, with the last finals in): a
    // deadline still pending then never fires, as the scope's timers are cleared with it.
    call.transcript.subscribe((event) => {
      if (event.type === 'end') alerts.close();
      else alerts.push(event);
    });
    alerts.start(0);
  }
}
