import { randomBytes } from 'node:crypto';
import { EVENT_VERSION, type WebhookEvent } from './event-schemas.js';

/** The event as every store commits it and every receiver gets it; `id` is its webhook-id for good. */
export function eventEnvelope(
  callSid: string,
  type: string,
  data: unknown,
  seq: number,
  now: number,
): WebhookEvent {
  return {
    id: `evt_${randomBytes(16).toString('hex')}`,
    type,
    version: EVENT_VERSION,
    callSid,
    seq,
    occurredAt: new Date(now).toISOString(),
    data,
  } as WebhookEvent;
}
