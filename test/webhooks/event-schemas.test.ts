import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/webhooks/event-schemas.js';
import { schemaJson } from '../../webhooks/write-schemas.js';
import { schemaValidator } from '../helpers/webhooks.js';

describe('webhook event JSON Schemas (webhooks/schemas/)', () => {
  it('are exactly what the event definitions generate (npm run webhooks:schemas)', () => {
    for (const type of EVENT_TYPES) {
      const committed = readFileSync(new URL(`../../webhooks/schemas/${type}.json`, import.meta.url), 'utf8');
      expect(committed, `${type}.json is stale: run npm run webhooks:schemas`).toBe(schemaJson(type));
    }
  });

  it('refuse what an event must not be', () => {
    const validate = schemaValidator();
    const event = {
      id: `evt_${'0'.repeat(32)}`,
      type: 'dtmf',
      version: 1,
      callSid: 'CA1',
      seq: 1,
      occurredAt: new Date().toISOString(),
      data: { digit: '5', speaker: 'caller', atMs: 1200 },
    };
    expect(validate(event)).toEqual([]);
    expect(validate({ ...event, seq: 0 })).not.toEqual([]);
    expect(validate({ ...event, data: { ...event.data, digit: 'X' } })).not.toEqual([]);
    expect(validate({ ...event, extra: true })).not.toEqual([]);
  });
});
