import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { describe, expect, it } from 'vitest';
import { isValidTwilioSignature, signedUrlCandidates } from '../../../src/carriers/twilio/signature.js';

describe('Twilio signatures', () => {
  it('lists the wss:// and https:// forms for the media upgrade, only https:// for webhooks', () => {
    expect(signedUrlCandidates('https://v.example.com', '/twilio/media', true)).toEqual([
      'wss://v.example.com/twilio/media',
      'https://v.example.com/twilio/media',
    ]);
    expect(signedUrlCandidates('http://localhost:8080', '/twilio/media', true)[0]).toBe(
      'ws://localhost:8080/twilio/media',
    );
    expect(signedUrlCandidates('https://v.example.com', '/twilio/voice?mode=agent', false)).toEqual([
      'https://v.example.com/twilio/voice?mode=agent',
    ]);
  });

  it('accepts a signature over any candidate and rejects other tokens, URLs and parameters', () => {
    const urls = signedUrlCandidates('https://v.example.com', '/twilio/media', true);
    const signed = getExpectedTwilioSignature('token', 'wss://v.example.com/twilio/media', {});
    expect(isValidTwilioSignature('token', signed, urls, {})).toBe(true);
    expect(isValidTwilioSignature('other-token', signed, urls, {})).toBe(false);
    expect(
      isValidTwilioSignature(
        'token',
        signed,
        signedUrlCandidates('https://evil.example.com', '/twilio/media', true),
        {},
      ),
    ).toBe(false);
    const form = getExpectedTwilioSignature('token', 'https://v.example.com/twilio/voice', {
      CallSid: 'CA1',
    });
    expect(
      isValidTwilioSignature('token', form, ['https://v.example.com/twilio/voice'], { CallSid: 'CA1' }),
    ).toBe(true);
    expect(
      isValidTwilioSignature('token', form, ['https://v.example.com/twilio/voice'], { CallSid: 'CA2' }),
    ).toBe(false);
  });
});
