import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyBaseLogger } from 'fastify';
import type { Dialer, DialRequest, DialUpdate, PlacedCall } from '../../calls/outbound/dialer.js';
import type { TelnyxRestConfig } from '../../calls/outbound/outbound-config.js';
import type { Clock } from '../../clock.js';
import { telnyxCallSid } from './call-id.js';
import { mintStreamToken } from './stream-token.js';
import { TELNYX_TIMEOUT_S, TelnyxCallControl } from './telnyx-call-control.js';
import type { TelnyxConfig } from './telnyx-config.js';

export interface TelnyxDialerOptions {
  readonly rest: TelnyxRestConfig;
  /** The Telnyx edge: its codec, and the secret stream tokens are signed with. */
  readonly edge: Pick<TelnyxConfig, 'codec' | 'streamSecret' | 'streamTokenTtlS'>;
  /** Origin Telnyx reaches voxline at (stream URL, webhooks); read per call. */
  readonly publicUrl: () => string;
  /** Wall time for the stream token's expiry. */
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly log: FastifyBaseLogger;
}

/** Paths telnyx-dial-routes.ts serves. */
export const TELNYX_DIAL_PATHS = { events: '/telnyx/dial/events', media: '/telnyx/dial/media' } as const;

/** Answered attempts kept for their media stream to find (until hang-up; the oldest go first). */
const MAX_ANSWERED_KEPT = 10_000;
const DIAL_ID = /^dial_[0-9a-f]{24}$/;

/** The Call Control webhook fields voxline reads; Telnyx sends many more, which are let through. */
const CallEvent = TypeCompiler.Compile(
  Type.Object({
    data: Type.Object({
      event_type: Type.String({ maxLength: 128 }),
      payload: Type.Object({
        call_control_id: Type.String({ minLength: 1, maxLength: 256 }),
        client_state: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
        hangup_cause: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
        sip_hangup_cause: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()])),
        result: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
      }),
    }),
  }),
);

/** call.hangup's hangup_cause before an answer, as a dial outcome (anything else: failed). */
const HANGUP: Readonly<Record<string, 'busy' | 'no-answer' | 'canceled'>> = {
  user_busy: 'busy',
  call_rejected: 'busy',
  timeout: 'no-answer',
  no_answer: 'no-answer',
  originator_cancel: 'canceled',
};

interface TelnyxDial {
  readonly request: DialRequest;
  readonly onUpdate: (update: DialUpdate) => void;
  callControlId?: string;
  /** Answered, waiting for call.machine.detection.ended (detectMachine). */
  detecting: boolean;
  canceling: boolean;
  settled: boolean;
  answered: boolean;
}

/** What the media route needs to open a dialled call's stream. */
export interface DialledStream {
  readonly callControlId: string;
  readonly request: DialRequest;
}

/**
 * Outbound calls over Telnyx Call Control: a dial with a stream_url (voxline's, with a token bound
 * to the dial id) and client_state (the dial id), so the outcome comes from the call's signed
 * webhooks (call.answered, call.machine.detection.ended, call.hangup) and the answered call's
 * media reach /telnyx/dial/media, which opens it as any Telnyx call.
 */
export class TelnyxDialer implements Dialer {
  readonly carrier = 'telnyx' as const;
  readonly #o: TelnyxDialerOptions;
  readonly #control: TelnyxCallControl;
  /** By dial id: attempts in progress, and answered ones until their call hangs up. */
  readonly #dials = new Map<string, TelnyxDial>();
  #answered = 0;

  constructor(options: TelnyxDialerOptions) {
    this.#o = options;
    this.#control = new TelnyxCallControl(options.rest, options.timeoutMs);
  }

  async place(request: DialRequest, onUpdate: (update: DialUpdate) => void): Promise<PlacedCall> {
    const { publicUrl, edge, rest, clock } = this.#o;
    const ringS = Math.min(
      TELNYX_TIMEOUT_S.max,
      Math.max(TELNYX_TIMEOUT_S.min, Math.round(request.ringTimeoutMs / 1000)),
    );
    // The stream opens on answer: the token lives through the ringing and the TTL after it.
    const expiresAtS = Math.floor(clock.wallNow() / 1000) + ringS + edge.streamTokenTtlS;
    const token = mintStreamToken(edge.streamSecret, request.id, expiresAtS);
    const agent = request.mode === 'agent';
    const dial: TelnyxDial = {
      request,
      onUpdate,
      detecting: false,
      canceling: false,
      settled: false,
      answered: false,
    };
    // Kept before the request: Telnyx may send call.initiated before its answer arrives.
    this.#dials.set(request.id, dial);
    try {
      dial.callControlId = await this.#control.dial({
        connection_id: rest.connectionId,
        to: request.to,
        from: request.from,
        stream_url: `${publicUrl().replace(/^http/, 'ws')}${TELNYX_DIAL_PATHS.media}?token=${token}`,
        // The agent hears the callee only (its own voice would echo back), as on inbound calls.
        stream_track: agent ? 'inbound_track' : 'both_tracks',
        stream_codec: edge.codec,
        ...(agent ? { stream_bidirectional_mode: 'rtp', stream_bidirectional_codec: edge.codec } : {}),
        answering_machine_detection: request.detectMachine ? 'detect' : 'disabled',
        timeout_secs: ringS,
        client_state: Buffer.from(request.id, 'utf8').toString('base64'),
        command_id: request.id,
        webhook_url: `${publicUrl()}${TELNYX_DIAL_PATHS.events}`,
        webhook_url_method: 'POST',
      });
    } catch (err) {
      this.#dials.delete(request.id);
      throw err;
    }
    return { carrierCallId: dial.callControlId };
  }

  /**
   * A verified Call Control webhook (its parsed JSON). Returns whether it was about an attempt
   * this dialer holds; anything else (another application's calls, unknown shapes) changes nothing.
   */
  event(body: unknown): boolean {
    if (!CallEvent.Check(body)) return false;
    const { event_type: type, payload } = body.data;
    const dial = this.#find(payload.call_control_id, payload.client_state);
    if (!dial) return false;
    dial.callControlId ??= payload.call_control_id;
    const callSid = telnyxCallSid(payload.call_control_id);
    switch (type) {
      case 'call.answered':
        if (dial.settled) return true;
        if (dial.request.detectMachine) dial.detecting = true;
        else this.#settle(dial, { kind: 'answered', callSid });
        return true;
      case 'call.machine.detection.ended': {
        const result = payload.result;
        const answeredBy = result === 'human' ? 'human' : result === 'machine' ? 'machine' : 'unknown';
        this.#settle(dial, { kind: 'answered', callSid, answeredBy });
        return true;
      }
      case 'call.hangup': {
        const cause = payload.hangup_cause ?? 'unspecified';
        if (dial.detecting) this.#settle(dial, { kind: 'answered', callSid, answeredBy: 'unknown' });
        else {
          const sip = Number(payload.sip_hangup_cause);
          this.#settle(dial, {
            kind: 'ended',
            outcome: dial.canceling ? 'canceled' : (HANGUP[cause] ?? 'failed'),
            detail: cause,
            ...(Number.isInteger(sip) && sip >= 300 && sip <= 699 ? { status: sip } : {}),
          });
        }
        // The call is over: its stream, if it ever opens, has nothing to join.
        this.#forget(dial);
        return true;
      }
      default:
        return true;
    }
  }

  /** The answered attempt a stream token names, while its call is up. */
  stream(dialId: string): DialledStream | undefined {
    const dial = this.#dials.get(dialId);
    if (!dial?.settled || !dial.callControlId) return undefined;
    return { callControlId: dial.callControlId, request: dial.request };
  }

  async cancel(dialId: string): Promise<void> {
    const dial = this.#dials.get(dialId);
    if (!dial?.callControlId || dial.settled) return;
    dial.canceling = true;
    await this.#control.hangUp(dial.callControlId);
  }

  async close(): Promise<void> {
    const ringing = [...this.#dials.values()].filter((d) => !d.settled);
    // Each hang-up is bounded by the client's timeout; whatever Telnyx says, the attempt is over here.
    await Promise.allSettled(ringing.map((d) => this.cancel(d.request.id)));
    for (const dial of ringing)
      this.#settle(dial, { kind: 'ended', outcome: 'canceled', detail: 'shutdown' });
    this.#dials.clear();
  }

  #find(callControlId: string, clientState: string | null | undefined): TelnyxDial | undefined {
    const id = clientState ? Buffer.from(clientState, 'base64').toString('utf8') : '';
    const dial = DIAL_ID.test(id) ? this.#dials.get(id) : undefined;
    // client_state is only ever ours on our calls; the call_control_id must agree once known.
    if (!dial || (dial.callControlId !== undefined && dial.callControlId !== callControlId)) return undefined;
    return dial;
  }

  #settle(dial: TelnyxDial, update: DialUpdate): void {
    if (dial.settled) return;
    dial.settled = true;
    dial.detecting = false;
    if (update.kind === 'answered') {
      dial.answered = true;
      this.#answered++;
      // Bounded: the oldest answered attempts go first (a hang-up that never came).
      for (const [id, d] of this.#dials) {
        if (this.#answered <= MAX_ANSWERED_KEPT) break;
        if (d.settled) this.#forget(d, id);
      }
    } else this.#dials.delete(dial.request.id);
    dial.onUpdate(update);
  }

  #forget(dial: TelnyxDial, id = dial.request.id): void {
    if (this.#dials.get(id) !== dial) return;
    this.#dials.delete(id);
    if (dial.answered) this.#answered--;
  }
}
