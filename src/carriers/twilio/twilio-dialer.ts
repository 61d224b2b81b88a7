import type { FastifyBaseLogger } from 'fastify';
import type Twilio from 'twilio/lib/rest/Twilio.js';
import type { Dialer, DialRequest, DialUpdate, PlacedCall } from '../../calls/outbound/dialer.js';
import type { Config } from '../../config.js';
import { VoxlineError } from '../../errors.js';
import type { LegLabels } from '../carrier.js';
import { PARAM } from './media-session.js';
import { type TwilioRestOptions, twilioRestClient } from './twilio-rest.js';
import { buildVoiceTwiml } from './twiml.js';

export interface TwilioDialerOptions extends TwilioRestOptions {
  /** Origin Twilio reaches voxline at (stream URL, status callbacks); read per call. */
  readonly publicUrl: () => string;
  readonly legs: LegLabels;
  /** Where a transcribed call goes once its stream has started, as for inbound calls. */
  readonly twilio: Pick<Config['twilio'], 'dial' | 'continueUrl'>;
  readonly log: FastifyBaseLogger;
}

/** Status callbacks asked for: `initiated` and `ringing` are progress, the rest outcomes. */
const STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];
/** Twilio's CallStatus of a call that ended unanswered, as a dial outcome. */
const ENDED: Readonly<Record<string, 'busy' | 'no-answer' | 'failed' | 'canceled'>> = {
  busy: 'busy',
  'no-answer': 'no-answer',
  failed: 'failed',
  canceled: 'canceled',
};
/** The path of an attempt's status callbacks (twilio-dial-routes.ts serves it). */
export function dialStatusPath(dialId: string): string {
  return `/twilio/dial/${dialId}/status`;
}

interface TwilioDial {
  readonly request: DialRequest;
  readonly onUpdate: (update: DialUpdate) => void;
  callSid?: string;
}

/**
 * Outbound calls over Twilio REST (`calls.create` with inline TwiML, the `twilio` package): the
 * TwiML is the one an inbound call is answered with (<Start><Stream> to transcribe, <Connect>
 * <Stream> for the agent) plus the dial's id as a <Parameter>, so the answered call reaches
 * /twilio/media as any call does. Progress comes back as signed status callbacks.
 */
export class TwilioDialer implements Dialer {
  readonly carrier = 'twilio' as const;
  readonly #o: TwilioDialerOptions;
  readonly #client: Twilio;
  /** Attempts not yet settled, by dial id. */
  readonly #dials = new Map<string, TwilioDial>();

  constructor(options: TwilioDialerOptions) {
    this.#o = options;
    this.#client = twilioRestClient(options);
  }

  async place(request: DialRequest, onUpdate: (update: DialUpdate) => void): Promise<PlacedCall> {
    const { publicUrl, legs, twilio, log } = this.#o;
    const { twiml, skippedParameters } = buildVoiceTwiml({
      mode: request.mode,
      streamUrl: `${publicUrl().replace(/^http/, 'ws')}/twilio/media`,
      statusCallbackUrl: `${publicUrl()}/twilio/status`,
      // The request's parameters first: voxline's own keys are never overridden by them.
      parameters: {
        ...request.parameters,
        [PARAM.mode]: request.mode,
        [PARAM.inboundLabel]: legs.inbound,
        [PARAM.outboundLabel]: legs.outbound,
        voxlineDialId: request.id,
        direction: 'outbound',
        from: request.from,
        to: request.to,
      },
      dial: twilio.dial,
      continueUrl: twilio.continueUrl,
    });
    if (skippedParameters.length > 0) {
      log.warn(
        { dialId: request.id, skippedParameters },
        'stream parameters too long for Twilio were left out',
      );
    }
    // Kept before the request: Twilio may call back before its answer has arrived.
    const dial: TwilioDial = { request, onUpdate };
    this.#dials.set(request.id, dial);
    try {
      const call = await this.#client.api.v2010.accounts(this.#o.accountSid).calls.create({
        to: request.to,
        from: request.from,
        twiml,
        statusCallback: `${publicUrl()}${dialStatusPath(request.id)}`,
        statusCallbackMethod: 'POST',
        statusCallbackEvent: STATUS_EVENTS,
        timeout: Math.round(request.ringTimeoutMs / 1000),
        ...(request.detectMachine ? { machineDetection: 'Enable' } : {}),
      });
      dial.callSid ??= call.sid;
      return { carrierCallId: call.sid };
    } catch (err) {
      this.#dials.delete(request.id);
      throw restError(err);
    }
  }

  /**
   * A signed status callback of attempt `dialId` (its form fields). Returns false when the attempt
   * is not one this dialer holds (settled, or never placed here): nothing changes.
   */
  statusCallback(dialId: string, fields: Readonly<Record<string, string | undefined>>): boolean {
    const dial = this.#dials.get(dialId);
    if (!dial) return false;
    const callSid = fields.CallSid;
    if (!callSid || (dial.callSid !== undefined && callSid !== dial.callSid)) return false;
    dial.callSid = callSid;
    const status = fields.CallStatus ?? '';
    const ended = ENDED[status];
    if (ended) {
      this.#settle(dial, { kind: 'ended', outcome: ended, detail: status });
    } else if (status === 'in-progress' || status === 'completed') {
      // `completed` first means the answered callback was lost: the call was answered all the same.
      this.#settle(dial, { kind: 'answered', callSid, ...answeredBy(fields.AnsweredBy) });
    } else if (status === 'ringing') {
      dial.onUpdate({ kind: 'ringing' });
    }
    return true;
  }

  async cancel(dialId: string): Promise<void> {
    const callSid = this.#dials.get(dialId)?.callSid;
    if (!callSid) return;
    // Twilio ends a queued or ringing call and calls back `canceled`.
    try {
      await this.#client.api.v2010.accounts(this.#o.accountSid).calls(callSid).update({ status: 'canceled' });
    } catch (err) {
      throw restError(err);
    }
  }

  async close(): Promise<void> {
    // Each cancel is bounded by the client's timeout; whatever Twilio says, the attempt is over here.
    const dials = [...this.#dials.values()];
    await Promise.allSettled(dials.map((dial) => this.cancel(dial.request.id)));
    for (const dial of dials) this.#settle(dial, { kind: 'ended', outcome: 'canceled', detail: 'shutdown' });
  }

  #settle(dial: TwilioDial, update: DialUpdate): void {
    if (this.#dials.get(dial.request.id) !== dial) return;
    this.#dials.delete(dial.request.id);
    dial.onUpdate(update);
  }
}

/** AnsweredBy (machineDetection=Enable): human, machine_start, machine_end_*, fax, unknown. */
function answeredBy(value: string | undefined): { answeredBy?: 'human' | 'machine' | 'unknown' } {
  if (value === undefined) return {};
  if (value === 'human') return { answeredBy: 'human' };
  if (value.startsWith('machine_') || value === 'fax') return { answeredBy: 'machine' };
  return { answeredBy: 'unknown' };
}

/** A refusal (a 4xx: Twilio's RestException) or a failure to be answered at all. */
function restError(err: unknown): VoxlineError {
  const { status, code } = err as { status?: unknown; code?: unknown };
  // A 4xx is a refusal, except that a timeout or a rate limit may pass.
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    const message = (err as Error).message.slice(0, 300);
    return new VoxlineError('VL_ERR_DIAL_REJECTED', `Twilio answered ${status} (code ${code}): ${message}`, {
      cause: err,
    });
  }
  const why = typeof status === 'number' ? `Twilio answered ${status}` : 'Twilio could not be reached';
  return new VoxlineError('VL_ERR_DIAL_FAILED', why, { cause: err });
}
