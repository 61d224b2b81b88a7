import type Twilio from 'twilio/lib/rest/Twilio.js';
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import { type TwilioRestOptions, twilioRestClient } from '../carriers/twilio/twilio-rest.js';
import { VoxlineError } from '../errors.js';

/** Acts on a live call through the carrier's control API (not the media stream). */
export interface CallControl {
  hangUp(callSid: string): Promise<void>;
  /** Replaces the call's TwiML with a <Dial> to `target` (a number or SIP URI). */
  transfer(callSid: string, target: string): Promise<void>;
}

export type TwilioControlOptions = TwilioRestOptions;

/**
 * end_call and transfer_call through Twilio's REST API with the `twilio` package: a Call update
 * with Status=completed, or with new TwiML that dials the target (which also ends the media stream).
 */
export class TwilioCallControl implements CallControl {
  readonly #client: Twilio;

  constructor(options: TwilioControlOptions) {
    this.#client = twilioRestClient(options);
  }

  async hangUp(callSid: string): Promise<void> {
    await this.#update(callSid, { status: 'completed' });
  }

  async transfer(callSid: string, target: string): Promise<void> {
    const twiml = new VoiceResponse();
    if (target.startsWith('sip:') || target.startsWith('sips:')) twiml.dial().sip(target);
    else twiml.dial(target);
    await this.#update(callSid, { twiml: twiml.toString() });
  }

  async #update(callSid: string, params: { status?: 'completed'; twiml?: string }): Promise<void> {
    try {
      await this.#client.api.v2010.accounts(this.#client.accountSid).calls(callSid).update(params);
    } catch (err) {
      const status = (err as { status?: number }).status;
      throw new VoxlineError(
        'VL_ERR_CALL_CONTROL_FAILED',
        status ? `Twilio answered ${status}` : (err as Error).message,
        {
          cause: err,
        },
      );
    }
  }
}
