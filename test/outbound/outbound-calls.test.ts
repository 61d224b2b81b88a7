import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Dialer, DialRequest, DialUpdate } from '../../src/calls/outbound/dialer.js';
import { type DialInput, OutboundCalls } from '../../src/calls/outbound/outbound-calls.js';
import { isVoxlineError, VoxlineError } from '../../src/errors.js';
import type { EventData } from '../../src/webhooks/event-schemas.js';
import { ManualClock } from '../helpers/manual-clock.js';

/*
 * The attempt table on its own, with a Dialer written here (it records what it is given and
 * reports what the test says) and time that moves only when the test moves it.
 */

class ScriptedDialer implements Dialer {
  readonly placed: { request: DialRequest; report: (u: DialUpdate) => void }[] = [];
  readonly cancelled: string[] = [];
  refuse: VoxlineError | undefined;
  constructor(readonly carrier: 'twilio' | 'telnyx' | 'sip') {}

  async place(request: DialRequest, onUpdate: (u: DialUpdate) => void) {
    if (this.refuse) throw this.refuse;
    this.placed.push({ request, report: onUpdate });
    return { carrierCallId: `carrier-${this.placed.length}` };
  }

  async cancel(dialId: string) {
    this.cancelled.push(dialId);
    this.placed.find((p) => p.request.id === dialId)?.report({ kind: 'ended', outcome: 'canceled' });
  }

  async close() {}
}

const INPUT: DialInput = {
  carrier: 'twilio',
  to: '+15005550006',
  from: '+15005550001',
  mode: 'transcribe',
  parameters: {},
  ringTimeoutMs: 30_000,
  detectMachine: false,
};

function setup(options: { maxConcurrent?: number; callsPerSecond?: number; finishedKept?: number } = {}) {
  const clock = new ManualClock();
  const dialer = new ScriptedDialer('twilio');
  const events: { callSid: string; data: EventData<'call.dialed'> }[] = [];
  const outbound = new OutboundCalls({
    dialers: new Map([['twilio', dialer]]),
    maxConcurrent: options.maxConcurrent ?? 2,
    callsPerSecond: options.callsPerSecond ?? 100,
    clock,
    publish: (dial, data) => events.push({ callSid: dial.callSid, data }),
    log: pino({ level: 'silent' }),
    ...(options.finishedKept === undefined ? {} : { finishedKept: options.finishedKept }),
  });
  return { clock, dialer, events, outbound };
}

async function refusal(promise: Promise<unknown>): Promise<VoxlineError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isVoxlineError(err)) throw new Error(`expected a VoxlineError, got ${String(err)}`);
  return err;
}

describe('OutboundCalls', () => {
  it('places an attempt, shows it, and publishes its outcome once, under the dial id', async () => {
    const { dialer, events, outbound } = setup();
    const attempt = await outbound.dial(INPUT);
    expect(attempt).toMatchObject({ status: 'dialing', carrierCallId: 'carrier-1', outcome: null });
    expect(attempt.id).toMatch(/^dial_[0-9a-f]{24}$/);
    expect(dialer.placed[0]?.request).toMatchObject({ id: attempt.id, to: INPUT.to, ringTimeoutMs: 30_000 });
    const report = dialer.placed[0]?.report as (u: DialUpdate) => void;
    report({ kind: 'ringing' });
    expect(outbound.get(attempt.id)?.status).toBe('ringing');
    report({ kind: 'answered', callSid: 'CA1' });
    report({ kind: 'ended', outcome: 'busy' }); // after the outcome: ignored
    expect(outbound.get(attempt.id)).toMatchObject({
      status: 'answered',
      outcome: 'answered',
      callSid: 'CA1',
    });
    expect(events).toEqual([
      {
        callSid: attempt.id,
        data: {
          dialId: attempt.id,
          carrier: 'twilio',
          to: INPUT.to,
          from: INPUT.from,
          outcome: 'answered',
          callSid: 'CA1',
        },
      },
    ]);
    expect(outbound.inFlight('twilio')).toBe(0);
  });

  it('calls an answering machine `machine`', async () => {
    const { dialer, events, outbound } = setup();
    await outbound.dial({ ...INPUT, detectMachine: true });
    dialer.placed[0]?.report({ kind: 'answered', callSid: 'CA2', answeredBy: 'machine' });
    expect(events[0]?.data).toMatchObject({ outcome: 'machine', answeredBy: 'machine', callSid: 'CA2' });
  });

  it('refuses over the concurrency cap with Retry-After, and takes attempts again once one settles', async () => {
    const { dialer, outbound } = setup({ maxConcurrent: 2 });
    await outbound.dial(INPUT);
    await outbound.dial(INPUT);
    const err = await refusal(outbound.dial(INPUT));
    expect(err).toMatchObject({ code: 'VL_ERR_DIAL_LIMIT', statusCode: 429, retryAfterS: 1 });
    dialer.placed[0]?.report({ kind: 'ended', outcome: 'no-answer', detail: 'no-answer' });
    await outbound.dial(INPUT);
    expect(outbound.inFlight('twilio')).toBe(2);
  });

  it('rate-limits each carrier with a token bucket on the clock', async () => {
    const { clock, outbound } = setup({ maxConcurrent: 100, callsPerSecond: 2 });
    await outbound.dial(INPUT);
    await outbound.dial(INPUT);
    const err = await refusal(outbound.dial(INPUT));
    expect(err).toMatchObject({ code: 'VL_ERR_DIAL_LIMIT', retryAfterS: 1 });
    await clock.advance(499);
    await refusal(outbound.dial(INPUT));
    await clock.advance(1);
    await outbound.dial(INPUT); // half a second: one token
    await refusal(outbound.dial(INPUT));
  });

  it('keeps nothing of an attempt the carrier refused', async () => {
    const { dialer, events, outbound } = setup();
    dialer.refuse = new VoxlineError('VL_ERR_DIAL_REJECTED', 'Twilio answered 400');
    const err = await refusal(outbound.dial(INPUT));
    expect(err.code).toBe('VL_ERR_DIAL_REJECTED');
    expect(outbound.inFlight('twilio')).toBe(0);
    expect(events).toEqual([]);
  });

  it('refuses a carrier it has no dialer for', async () => {
    const { outbound } = setup();
    const err = await refusal(outbound.dial({ ...INPUT, carrier: 'telnyx' }));
    expect(err).toMatchObject({ code: 'VL_ERR_DIALER_NOT_CONFIGURED', statusCode: 409 });
    outbound.addDialer(new ScriptedDialer('telnyx'));
    expect((await outbound.dial({ ...INPUT, carrier: 'telnyx' })).carrier).toBe('telnyx');
  });

  it('cancels a ringing attempt through its dialer', async () => {
    const { dialer, events, outbound } = setup();
    const attempt = await outbound.dial(INPUT);
    await outbound.cancel(attempt.id);
    expect(dialer.cancelled).toEqual([attempt.id]);
    expect(events[0]?.data.outcome).toBe('canceled');
    expect((await refusal(outbound.cancel(attempt.id))).code).toBe('VL_ERR_CALL_ENDED');
    expect((await refusal(outbound.cancel('dial_000000000000000000000000'))).code).toBe(
      'VL_ERR_DIAL_NOT_FOUND',
    );
  });

  it('fails an attempt the carrier never reports on, a minute past its ring timeout', async () => {
    const { clock, dialer, events, outbound } = setup();
    const attempt = await outbound.dial({ ...INPUT, ringTimeoutMs: 10_000 });
    dialer.cancel = async (id) => void dialer.cancelled.push(id); // the carrier stays silent
    await clock.advance(69_999);
    expect(events).toEqual([]);
    await clock.advance(1);
    expect(events[0]?.data).toMatchObject({
      outcome: 'failed',
      detail: 'no outcome from the carrier in time',
    });
    expect(dialer.cancelled).toEqual([attempt.id]);
    expect(outbound.inFlight('twilio')).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('keeps a bounded table: the oldest finished attempts go first', async () => {
    const { dialer, outbound } = setup({ finishedKept: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await outbound.dial(INPUT)).id);
      dialer.placed[i]?.report({ kind: 'ended', outcome: 'busy' });
    }
    expect(ids.map((id) => outbound.get(id)?.outcome ?? null)).toEqual([null, 'busy', 'busy']);
  });
});
