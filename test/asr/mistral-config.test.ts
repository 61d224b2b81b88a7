import { describe, expect, it } from 'vitest';
import { rotationAgeMs } from '../../src/asr/mistral/mistral-engine.js';
import { loadConfig } from '../../src/config.js';
import { configError } from '../helpers/config.js';

describe('Mistral session limits in the configuration', () => {
  it('defaults: a 10 min session limit, renewed after 9 min with 60 s utterances; no cap on sessions', () => {
    const { asr, warnings } = loadConfig({ MISTRAL_API_KEY: 'k' });
    expect(asr.mistral).toMatchObject({ sessionMaxMs: 600_000, maxSessions: 0 });
    expect(rotationAgeMs(asr.mistral.sessionMaxMs, asr.maxUtteranceMs)).toBe(540_000);
    expect(warnings.join('\n')).not.toContain('MISTRAL_SESSION_MAX_MS');
  });

  it('takes both from the environment, and warns when an utterance may outlast half a session', () => {
    const { asr, warnings } = loadConfig({
      MISTRAL_API_KEY: 'k',
      MISTRAL_SESSION_MAX_MS: '20000',
      MISTRAL_MAX_SESSIONS: '3',
      UTTERANCE_MAX_MS: '15000',
    });
    expect(asr.mistral).toMatchObject({ sessionMaxMs: 20_000, maxSessions: 3 });
    expect(rotationAgeMs(20_000, 15_000)).toBe(10_000); // never before half the limit
    expect(warnings).toContainEqual(
      expect.stringContaining('MISTRAL_SESSION_MAX_MS (20000) is under twice UTTERANCE_MAX_MS (15000)'),
    );
    expect(configError({ MISTRAL_API_KEY: 'k', MISTRAL_SESSION_MAX_MS: '5000' })).toContain(
      'MISTRAL_SESSION_MAX_MS',
    );
    expect(configError({ MISTRAL_API_KEY: 'k', MISTRAL_MAX_SESSIONS: '-1' })).toContain(
      'MISTRAL_MAX_SESSIONS',
    );
  });
});
