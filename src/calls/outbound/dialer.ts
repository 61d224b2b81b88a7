import type { CallMode } from '../../carriers/carrier.js';

/**
 * The outbound-call contract: `POST /v1/calls` turns a request into a DialRequest and hands it to
 * the carrier's Dialer. A dialer places the call over its carrier's signalling (Twilio REST,
 * Telnyx Call Control, a SIP INVITE to a trunk) and reports how the attempt goes. Once answered,
 * the media arrive through that carrier's ordinary inbound edge, carrying the DialRequest's id
 * (`customParameters.voxlineDialId`), so an outbound call has the same call model, events,
 * recording and transcript as an inbound one.
 */

export type DialCarrier = 'twilio' | 'telnyx' | 'sip';

/** How an attempt ended, or `answered`: the dial outcome reported in `call.dialed`. */
export type DialOutcome = 'answered' | 'busy' | 'no-answer' | 'failed' | 'machine' | 'canceled';

export interface DialRequest {
  /** Voxline's id for the attempt (`dial_…`), known before the carrier has an id of its own. */
  readonly id: string;
  /** E.164 number or SIP URI to call. */
  readonly to: string;
  /** Caller id presented (E.164 or SIP URI), one the carrier lets this account use. */
  readonly from: string;
  readonly mode: CallMode;
  /** Passed to the call as its custom parameters (as Twilio `<Parameter>`s would be). */
  readonly parameters: Readonly<Record<string, string>>;
  /** How long it may ring before the attempt is `no-answer`. */
  readonly ringTimeoutMs: number;
  /** Detect an answering machine: the carrier's AMD (Twilio, Telnyx), voxline's own over SIP. */
  readonly detectMachine: boolean;
}

/** What a dialer reports while an attempt progresses; the last one is the outcome. */
export type DialUpdate =
  | { readonly kind: 'ringing' }
  | {
      readonly kind: 'answered';
      readonly callSid: string;
      readonly answeredBy?: 'human' | 'machine' | 'unknown';
    }
  | {
      readonly kind: 'ended';
      readonly outcome: Exclude<DialOutcome, 'answered'>;
      /** The carrier's reason in its own words (SIP status line, Twilio CallStatus, Telnyx hangup cause). */
      readonly detail?: string;
      /** The SIP status code, or the HTTP status of a refused REST request. */
      readonly status?: number;
    };

export interface PlacedCall {
  /** The carrier's id for the call (Twilio CallSid, Telnyx call_control_id, SIP Call-ID). */
  readonly carrierCallId: string;
}

export interface Dialer {
  readonly carrier: DialCarrier;
  /**
   * Starts the attempt. Resolves once the carrier has accepted it (it has an id); rejects with a
   * VoxlineError when it refuses outright. Progress arrives through `onUpdate` on the event loop,
   * never after an `ended` update.
   */
  place(request: DialRequest, onUpdate: (update: DialUpdate) => void): Promise<PlacedCall>;
  /** Abandons an attempt that has not been answered (SIP CANCEL; REST status=canceled). */
  cancel(dialId: string): Promise<void>;
  /** Ends every attempt in progress (shutdown). */
  close(): Promise<void>;
}
