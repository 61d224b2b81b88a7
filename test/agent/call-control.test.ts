import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioCallControl } from '../../src/agent/call-control.js';
import { isVoxlineError } from '../../src/errors.js';
import { TwilioRestDouble } from '../doubles/twilio-rest-double.js';

const ACCOUNT_SID = `AC${'b'.repeat(32)}`;
const CALL_SID = `CA${'c'.repeat(32)}`;
let rest: TwilioRestDouble;
let control: TwilioCallControl;

beforeAll(async () => {
  rest = new TwilioRestDouble();
  await rest.listen();
  control = new TwilioCallControl({
    accountSid: ACCOUNT_SID,
    authToken: 'tok',
    baseUrl: rest.url,
    timeoutMs: 2_000,
  });
});
afterAll(() => rest.close());

describe('TwilioCallControl: call updates through the twilio package', () => {
  it('hangs up with Status=completed, authenticated as the account', async () => {
    await control.hangUp(CALL_SID);
    expect(rest.updates.at(-1)).toEqual({
      accountSid: ACCOUNT_SID,
      callSid: CALL_SID,
      params: { Status: 'completed' },
      user: ACCOUNT_SID,
      password: 'tok',
    });
  });

  it('transfers with new TwiML that dials a number or a SIP URI', async () => {
    await control.transfer(CALL_SID, '+15550001111');
    expect(rest.updates.at(-1)?.params.Twiml).toContain('<Dial>+15550001111</Dial>');
    await control.transfer(CALL_SID, 'sip:desk@pbx.example.com');
    expect(rest.updates.at(-1)?.params.Twiml).toContain('<Dial><Sip>sip:desk@pbx.example.com</Sip></Dial>');
  });

  it('reports a refusal as VL_ERR_CALL_CONTROL_FAILED with Twilio’s status', async () => {
    rest.failWith = 400;
    await expect(control.hangUp(CALL_SID)).rejects.toSatisfy(
      (err) => isVoxlineError(err, 'VL_ERR_CALL_CONTROL_FAILED') && /Twilio answered 400/.test(err.message),
    );
    rest.failWith = undefined;
  });
});
