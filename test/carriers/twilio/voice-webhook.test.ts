import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../../src/simulator/twilio-call-simulator.js';
import { AUTH_TOKEN, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, playDemo } from '../../helpers/media.js';

const PUBLIC_URL = 'https://voxline.example.com';
const CALL = {
  CallSid: 'CAweb0000000000000000000000000001',
  AccountSid: 'ACtest',
  From: '+15551230000',
  To: '+15559870000',
  Direction: 'inbound',
};

/** POSTs a form to voxline the way Twilio does: signed over the public URL, sent to the local port. */
async function twilioPost(
  gateway: Gateway,
  path: string,
  params: Record<string, string>,
  signature?: string,
) {
  const response = await fetch(`${gateway.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature':
        signature ?? getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${path}`, params),
    },
    body: new URLSearchParams(params),
  });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

describe('POST /twilio/voice', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ PUBLIC_URL, TWILIO_DIAL: '+15550001111' });
  });
  afterAll(() => gateway.close());

  it('transcribe mode: starts a listen-only both_tracks stream to wss://…/twilio/media, then dials', async () => {
    const { status, type, text } = await twilioPost(gateway, '/twilio/voice', CALL);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/xml/);
    expect(text).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Start><Stream url="wss:\/\/voxline\.example\.com\/twilio\/media" name="voxline" statusCallback="https:\/\/voxline\.example\.com\/twilio\/status" statusCallbackMethod="POST" track="both_tracks">/,
    );
    expect(text).toContain('<Parameter name="voxlineMode" value="transcribe"/>');
    expect(text).toContain(
      '<Parameter name="inboundLabel" value="caller"/><Parameter name="outboundLabel" value="agent"/>',
    );
    expect(text).toContain('<Parameter name="from" value="+15551230000"/>');
    expect(text).toContain('</Stream></Start><Dial>+15550001111</Dial></Response>');
    expect(text).not.toContain('?'.concat('mode')); // the stream URL carries no query string
  });

  it('agent mode (?mode=agent): a bidirectional <Connect><Stream>, nothing after it', async () => {
    const { status, text } = await twilioPost(gateway, '/twilio/voice?mode=agent', CALL);
    expect(status).toBe(200);
    expect(text).toContain('<Response><Connect><Stream url="wss://voxline.example.com/twilio/media"');
    expect(text).toContain('<Parameter name="voxlineMode" value="agent"/>');
    expect(text).not.toContain('both_tracks');
    expect(text).toMatch(/<\/Connect><\/Response>$/);
  });

  it('answers 400 with a clear code for an unknown mode', async () => {
    const { status, text } = await twilioPost(gateway, '/twilio/voice?mode=shout', CALL);
    expect(status).toBe(400);
    expect(JSON.parse(text).error.code).toBe('VL_ERR_BAD_REQUEST');
  });

  it('refuses a forged or missing signature with 403, and a signature over other parameters', async () => {
    expect((await twilioPost(gateway, '/twilio/voice', CALL, 'Zm9yZ2Vk')).status).toBe(403);
    const signedForOther = getExpectedTwilioSignature(AUTH_TOKEN, `${PUBLIC_URL}/twilio/voice`, {
      ...CALL,
      From: '+1999',
    });
    const tampered = await twilioPost(gateway, '/twilio/voice', CALL, signedForOther);
    expect(tampered.status).toBe(403);
    expect(JSON.parse(tampered.text).error.code).toBe('VL_ERR_TWILIO_SIGNATURE');
  });

  it('continues with <Redirect> when TWILIO_CONTINUE_URL is set, and holds the line when nothing is', async () => {
    const redirecting = await startGateway({
      PUBLIC_URL,
      TWILIO_CONTINUE_URL: 'https://app.example.com/next',
    });
    const holding = await startGateway({ PUBLIC_URL });
    try {
      expect((await twilioPost(redirecting, '/twilio/voice', CALL)).text).toContain(
        '</Start><Redirect method="POST">https://app.example.com/next</Redirect></Response>',
      );
      expect((await twilioPost(holding, '/twilio/voice', CALL)).text).toContain(
        '</Start><Pause length="3600"/></Response>',
      );
    } finally {
      await Promise.all([redirecting.close(), holding.close()]);
    }
  });
});

describe('POST /twilio/status', () => {
  it('checks signatures against PUBLIC_URL, not the address the request reached', async () => {
    const gateway = await startGateway({ PUBLIC_URL: 'http://127.0.0.1:1' });
    try {
      const call = demoCall('greeting');
      // The simulator signs the URL it connects to; this gateway validates against PUBLIC_URL,
      // so sign for that one.
      const result = await simulateTwilioCall({
        url: gateway.mediaUrl,
        caller: call.caller,
        agent: call.agent,
        pace: 'fast',
        authToken: AUTH_TOKEN,
      }).catch(() => undefined);
      expect(result?.closeReason).toBe('HTTP 403'); // the upgrade was signed for the wrong URL

      const callSid = 'CAstatus000000000000000000000001';
      const post = (params: Record<string, string>, signature?: string) =>
        fetch(`${gateway.baseUrl}/twilio/status`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature':
              signature ?? getExpectedTwilioSignature(AUTH_TOKEN, 'http://127.0.0.1:1/twilio/status', params),
          },
          body: new URLSearchParams(params),
        });
      expect((await post({ CallSid: callSid, StreamEvent: 'stream-started' })).status).toBe(204);
      expect((await post({ CallSid: callSid, StreamEvent: 'stream-started' }, 'Zm9yZ2Vk')).status).toBe(403);
    } finally {
      await gateway.close();
    }
  });

  it('keeps the last callbacks on the call record', async () => {
    const gateway = await startGateway();
    try {
      const result = await playDemo(gateway);
      const params = {
        CallSid: result.callSid,
        StreamSid: result.streamSid,
        StreamEvent: 'stream-error',
        StreamError: 'Stream - WebSocket - Connection Broken Pipe',
        Timestamp: '2026-11-22T10:00:00Z',
      };
      const response = await fetch(`${gateway.baseUrl}/twilio/status`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': getExpectedTwilioSignature(
            AUTH_TOKEN,
            `${gateway.baseUrl}/twilio/status`,
            params,
          ),
        },
        body: new URLSearchParams(params),
      });
      expect(response.status).toBe(204);
      const details = await gateway.call(result.callSid);
      expect(details.status).toEqual([
        {
          event: 'stream-error',
          receivedAt: expect.any(String),
          detail: {
            StreamSid: result.streamSid,
            StreamError: 'Stream - WebSocket - Connection Broken Pipe',
            Timestamp: '2026-11-22T10:00:00Z',
          },
        },
      ]);
      expect(gateway.logs.some((l) => l.msg === 'Twilio status callback' && l.level === 40)).toBe(true);
    } finally {
      await gateway.close();
    }
  });
});
