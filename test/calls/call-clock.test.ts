import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Call } from '../../src/calls/call.js';
import { ManualClock } from '../helpers/manual-clock.js';

/* A call reads time only from its Clock: its start and end, status callbacks, transcript stamps. */

describe('a Call on an injected clock', () => {
  it('stamps its start, end, status history and transcript events with the clock’s wall time', async () => {
    const wall = Date.UTC(2030, 5, 1, 12);
    const clock = new ManualClock(0, wall);
    const call = new Call(
      {
        ingress: 'twilio',
        callSid: 'CAclock',
        streamSid: 'MZclock',
        tracks: ['inbound'],
        legs: [{ track: 'inbound', label: 'caller' }],
        agentLabel: 'agent',
        customParameters: {},
        mode: 'transcribe',
        bidirectional: false,
      },
      { close: () => undefined },
      pino({ level: 'silent' }),
      { reorderWindowMs: 0, maxFillMs: 1_000, maxQueued: 64 },
      () => undefined,
      [],
      clock,
    );
    expect(call.startedAt.toISOString()).toBe('2030-06-01T12:00:00.000Z');
    await clock.advance(1_500);
    call.recordStatus('ringing', {});
    call.transcript.add({
      type: 'final',
      leg: 'caller',
      utteranceId: 1,
      text: 'hi',
      startMs: 0,
      endMs: 500,
      words: [],
      recovered: false,
      engine: 'vllm',
    });
    await clock.advance(2_000);
    expect(call.snapshot().durationSeconds).toBe(3.5); // live: up to the clock's now
    await call.end('stop');
    expect(call.status[0].receivedAt).toBe('2030-06-01T12:00:01.500Z');
    expect(call.snapshot()).toMatchObject({ endedAt: '2030-06-01T12:00:03.500Z', durationSeconds: 3.5 });
    expect(call.transcript.replay(0)).toMatchObject([{ type: 'final', at: '2030-06-01T12:00:01.500Z' }]);
  });
});
