import { describe, expect, it } from 'vitest';
import { CallLog, MAX_DTMF_PER_CALL } from '../../src/calls/call-log.js';

describe('CallLog', () => {
  it('keeps key presses up to its bound and counts the rest; keeps the last 20 status callbacks', () => {
    const log = new CallLog();
    for (let i = 0; i < MAX_DTMF_PER_CALL; i++) expect(log.addDtmf({ digit: '1', atMs: i })).toBe(true);
    expect(log.addDtmf({ digit: '2', atMs: null })).toBe(false);
    expect(log.dtmf).toHaveLength(MAX_DTMF_PER_CALL);
    expect(log.dtmfDropped).toBe(1);
    for (let i = 0; i < 25; i++) log.addStatus({ event: `e${i}`, receivedAt: '', detail: {} });
    expect(log.status.map((s) => s.event)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i + 5}`));
  });

  it('counts malformed messages by reason, with the running total', () => {
    const log = new CallLog();
    expect(log.countMalformed('bad_json')).toBe(1);
    expect(log.countMalformed('bad_base64')).toBe(2);
    expect(log.countMalformed('bad_json')).toBe(3);
    expect(log.malformed).toEqual({ total: 3, byReason: { bad_json: 2, bad_base64: 1 } });
  });
});
