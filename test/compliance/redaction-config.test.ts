import { describe, expect, it } from 'vitest';
import { callRedaction, redactionConfigFrom } from '../../src/compliance/redaction-config.js';
import { loadConfig } from '../../src/config.js';

const AUDIO = { REDACT_AUDIO: 'silence', REDACT_AUDIO_MAX_HOLD_MS: 30_000 } as const;

describe('REDACT, REDACT_HOLD_MS, DTMF_REDACT, REDACT_AUDIO', () => {
  it('names kinds or all; an unknown kind is a configuration error naming the known ones', () => {
    expect(redactionConfigFrom({ REDACT: 'card, CVV', REDACT_HOLD_MS: 2000, ...AUDIO }).value).toEqual({
      kinds: ['card', 'cvv'],
      holdMs: 2000,
      dtmf: true,
      audio: { fill: 'silence', maxHoldMs: 30_000 },
    });
    expect(redactionConfigFrom({ REDACT: 'all', REDACT_HOLD_MS: 0, ...AUDIO }).value.kinds).toHaveLength(8);
    expect(() => loadConfig({ ASR_ENGINE: 'none', REDACT: 'card,passport' })).toThrow(
      /REDACT: unknown kind "passport" \(card, cvv, expiry, ssn, iban, email, phone, pin, all\)/,
    );
  });

  it('is off by default, key presses too; DTMF_REDACT can be set on its own or off beside REDACT', () => {
    expect(loadConfig({ ASR_ENGINE: 'none' }).redaction).toEqual({
      kinds: [],
      holdMs: 2000,
      dtmf: false,
      audio: { fill: 'silence', maxHoldMs: 30_000 },
    });
    expect(loadConfig({ ASR_ENGINE: 'none', DTMF_REDACT: 'true' }).redaction.dtmf).toBe(true);
    expect(loadConfig({ ASR_ENGINE: 'none', REDACT: 'card', DTMF_REDACT: 'false' }).redaction.dtmf).toBe(
      false,
    );
  });

  it('REDACT_AUDIO: silence by default, a tone, or off; the hold is bounded', () => {
    expect(loadConfig({ ASR_ENGINE: 'none', REDACT_AUDIO: 'tone' }).redaction.audio?.fill).toBe('tone');
    expect(loadConfig({ ASR_ENGINE: 'none', REDACT_AUDIO: 'off' }).redaction.audio).toBeUndefined();
    expect(() => loadConfig({ ASR_ENGINE: 'none', REDACT_AUDIO: 'beep' })).toThrow(
      /REDACT_AUDIO: expected one of silence, tone, off/,
    );
    expect(() => loadConfig({ ASR_ENGINE: 'none', REDACT_AUDIO_MAX_HOLD_MS: '100' })).toThrow(
      /REDACT_AUDIO_MAX_HOLD_MS: expected an integer from 1000 to 600000/,
    );
  });

  it("a call's redact parameter can ask for more, never for less", () => {
    const config = { kinds: ['card' as const], holdMs: 2000, dtmf: true, audio: undefined };
    expect([...(callRedaction(config, { redact: 'email' })?.kinds ?? [])]).toEqual(['card', 'email']);
    expect([...(callRedaction(config, { redact: 'none' })?.kinds ?? [])]).toEqual(['card']);
    expect(callRedaction({ ...config, kinds: [] }, {})).toBeUndefined();
    expect([...(callRedaction({ ...config, kinds: [] }, { redact: 'all' })?.kinds ?? [])]).toHaveLength(8);
  });
});
