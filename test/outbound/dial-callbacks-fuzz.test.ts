import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelnyxDialer } from '../../src/carriers/telnyx/telnyx-dialer.js';
import { TwilioDialer } from '../../src/carriers/twilio/twilio-dialer.js';
import { signTelnyx, telnyxKeys } from '../doubles/telnyx-client.js';
import { type Gateway, startGateway } from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';

/*
 * What carriers send about outbound attempts is a containment boundary: random status callbacks
 * and webhooks (and random POST /v1/calls bodies) never throw, never report on an attempt they do
 * not name, and never get a 5xx other than the carrier's own failure.
 */

const log = pino({ level: 'silent' });
const keys = telnyxKeys();
const ADMIN = 'fuzz-outbound-admin-0123456789abcdef';

describe('fuzz: outbound callbacks', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({
      ADMIN_TOKEN: ADMIN,
      TWILIO_ACCOUNT_SID: `AC${'ab'.repeat(16)}`,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9', // nothing listens: a dial that passes checks fails fast
      TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
      TELNYX_STREAM_SECRET: 'telnyx-stream-secret-0123456789abcdef',
      TELNYX_API_KEY: 'KEYfuzz',
      TELNYX_CONNECTION_ID: '1494404757140276705',
      TELNYX_API_BASE_URL: 'http://127.0.0.1:9',
      OUTBOUND_CALLS_PER_SECOND: '1000',
      OUTBOUND_MAX_CONCURRENT: '1000',
    });
  }, 30_000);
  afterAll(() => gateway.close());

  it('Telnyx webhooks of any shape change nothing they do not name', () => {
    const dialer = new TelnyxDialer({
      rest: { apiKey: 'k', connectionId: 'c', baseUrl: 'http://127.0.0.1:9' },
      edge: { codec: 'PCMU', streamSecret: 's'.repeat(32), streamTokenTtlS: 60 },
      publicUrl: () => 'http://127.0.0.1',
      clock: new ManualClock(),
      timeoutMs: 100,
      log,
    });
    const event = fc.record({
      data: fc.record({
        event_type: fc.constantFrom('call.answered', 'call.hangup', 'call.machine.detection.ended', 'x'),
        payload: fc.record(
          {
            call_control_id: fc.string(),
            client_state: fc.oneof(fc.base64String(), fc.constant(null), fc.string()),
            hangup_cause: fc.string(),
            result: fc.string(),
          },
          { requiredKeys: [] },
        ),
      }),
    });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), event), (body) => {
        expect(dialer.event(body)).toBe(false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string(), (dialId) => {
        expect(dialer.stream(dialId)).toBeUndefined();
      }),
    );
  });

  it('Twilio status callbacks of any fields change nothing they do not name', () => {
    const dialer = new TwilioDialer({
      accountSid: `AC${'ab'.repeat(16)}`,
      authToken: 't',
      baseUrl: 'http://127.0.0.1:9',
      timeoutMs: 100,
      publicUrl: () => 'http://127.0.0.1',
      legs: { inbound: 'caller', outbound: 'agent' },
      twilio: { dial: undefined, continueUrl: undefined },
      log,
    });
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), fc.string()), (dialId, fields) => {
        expect(dialer.statusCallback(dialId, fields)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('signed Telnyx webhooks with any JSON get a 200, over real HTTP', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json(), async (body) => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const response = await fetch(`${gateway.baseUrl}/telnyx/dial/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'telnyx-timestamp': timestamp,
            'telnyx-signature-ed25519': signTelnyx(keys.privateKey, timestamp, body),
          },
          body,
        });
        await response.arrayBuffer();
        expect(response.status).toBe(200);
      }),
      // A `__proto__` key is dropped by the parser, not refused: found by fuzzing (seed 950915181).
      { numRuns: 100, examples: [['[{"__proto__":false}]'], ['{"constructor":{"prototype":{"x":1}}}']] },
    );
  });

  it('POST /v1/calls with any JSON is answered 4xx, or 502 for the carrier out of reach', async () => {
    const dial = fc.record(
      {
        to: fc.oneof(fc.string(), fc.constant('+15005550006')),
        from: fc.oneof(fc.string(), fc.constant('+15005550001')),
        mode: fc.constantFrom('transcribe', 'agent', 'x'),
        carrier: fc.constantFrom('twilio', 'telnyx', 'sip', 'x'),
        parameters: fc.dictionary(fc.string(), fc.string()),
        ringTimeoutS: fc.oneof(fc.integer(), fc.double(), fc.string()),
        detectMachine: fc.anything(),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), dial), async (value) => {
        const response = await fetch(`${gateway.baseUrl}/v1/calls`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify(value) ?? 'null',
        });
        const { error } = (await response.json()) as { error: { code: string } };
        if (response.status === 502) expect(error.code).toBe('VL_ERR_DIAL_FAILED');
        else expect([400, 409]).toContain(response.status);
      }),
      { numRuns: 150 },
    );
    expect(gateway.app.outbound.inFlight('twilio') + gateway.app.outbound.inFlight('telnyx')).toBe(0);
  }, 60_000);
});
