import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { simulateTwilioCall } from '../../../src/simulator/twilio-call-simulator.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, playDemo } from '../../helpers/media.js';
import { firstDifference } from '../../helpers/signal.js';

/** What voxline must hand on for a leg: the carrier's μ-law, decoded and upsampled in one go. */
function expected16k(mulaw: Uint8Array, frames: number): Int16Array {
  const padded = new Uint8Array(frames * 160).fill(0xff);
  padded.set(mulaw.subarray(0, padded.length));
  return new Upsampler8to16().pushPcm(mulawToPcm(padded));
}

function rms(pcm: Int16Array, fromMs: number, toMs: number): number {
  let sum = 0;
  const from = fromMs * 16;
  const to = toMs * 16;
  for (let i = from; i < to; i++) sum += pcm[i] * pcm[i];
  return Math.sqrt(sum / (to - from));
}

describe('Twilio Media Streams: a two-leg call from media/', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.close());

  it('hands on both legs as 16 kHz PCM, sample-exact, on one clock, with nothing filled or dropped', async () => {
    const call = demoCall('support-call');
    const result = await playDemo(gateway, 'support-call', { dtmf: [{ atMs: 3000, digit: '7' }] });
    expect(result.closeCode).toBe(1000);
    expect(result.frames).toBe(call.durationMs / 20);

    const details = await gateway.call(result.callSid);
    expect(details).toMatchObject({
      state: 'ended',
      endReason: 'stop',
      mode: 'transcribe',
      bidirectional: false,
    });
    expect(details.legs).toEqual([
      expect.objectContaining({ label: 'caller', track: 'inbound', framesReceived: 1150, audioSeconds: 23 }),
      expect.objectContaining({ label: 'agent', track: 'outbound', framesReceived: 1150, audioSeconds: 23 }),
    ]);
    for (const leg of details.legs) {
      expect(leg).toMatchObject({
        gapFilledMs: 0,
        skippedMs: 0,
        framesDropped: 0,
        droppedMs: 0,
        positionMs: 23000,
      });
    }
    expect(details.malformedMessages.total).toBe(0);
    expect(details.dtmf).toEqual([{ digit: '7', atMs: expect.any(Number) }]);

    for (const [leg, audio] of [
      ['caller', call.caller],
      ['agent', call.agent],
    ] as const) {
      const frames = gateway.tap.frames(result.callSid, leg);
      expect(frames[0].startMs).toBe(0);
      expect(
        frames.every((f, i) => i === 0 || f.startMs === frames[i - 1].startMs + frames[i - 1].durationMs),
      ).toBe(true);
      expect(frames.every((f) => !f.filled && f.pcm.length === f.durationMs * 16)).toBe(true);
      expect(firstDifference(gateway.tap.pcm(result.callSid, leg), expected16k(audio, 1150))).toBe(-1);
      expect(gateway.tap.legs.get(`${result.callSid}/${leg}`)?.ended).toBe(true);
    }
  });

  it('keeps each speaker on their own leg where the manifest places them on the call clock', async () => {
    const call = demoCall('support-call');
    const { callSid } = await playDemo(gateway, 'support-call');
    for (const segment of call.segments) {
      const own = gateway.tap.pcm(callSid, segment.leg);
      const other = gateway.tap.pcm(callSid, segment.leg === 'caller' ? 'agent' : 'caller');
      const speaking = rms(own, segment.startMs + 100, segment.endMs - 100);
      expect(speaking, `${segment.leg}: ${segment.text}`).toBeGreaterThan(300);
      // Where only this speaker talks, the other leg is (near) digital silence.
      const overlaps = call.segments.some(
        (s) => s.leg !== segment.leg && s.startMs < segment.endMs && s.endMs > segment.startMs,
      );
      if (!overlaps)
        expect(rms(other, segment.startMs + 100, segment.endMs - 100)).toBeLessThan(speaking / 100);
    }
  });

  it('reconstructs a lossy, reordered, duplicated stream and counts exactly what happened', async () => {
    const call = demoCall('greeting');
    const damage = { drop: [10, 50, 51, 120], reorderRate: 0.05, duplicateRate: 0.03, seed: 7 };
    const result = await simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller: call.caller,
      agent: call.agent,
      pace: 'fast',
      impair: { inbound: damage },
    });
    const plan = result.plans.inbound;
    expect(plan.reordered.size).toBeGreaterThan(5);
    expect(plan.duplicated.size).toBeGreaterThan(3);

    const { legs } = await gateway.call(result.callSid);
    const caller = legs.find((leg) => leg.label === 'caller')!;
    expect(caller).toMatchObject({
      framesReceived: result.frames - plan.dropped.size + plan.duplicated.size,
      gapFilledMs: 20 * plan.dropped.size,
      framesDropped: plan.duplicated.size,
      audioSeconds: ((result.frames - plan.dropped.size) * 20) / 1000,
      positionMs: call.durationMs,
    });
    expect(caller.reordered).toBeGreaterThanOrEqual(plan.reordered.size);
    const agent = legs.find((leg) => leg.label === 'agent')!;
    expect(agent).toMatchObject({ gapFilledMs: 0, framesDropped: 0, reordered: 0, audioSeconds: 5 });

    // The timeline is whole: real audio where it arrived, marked silence where it did not.
    const frames = gateway.tap.frames(result.callSid, 'caller');
    const filled = frames.filter((f) => f.filled).map((f) => f.startMs);
    expect(filled).toEqual([...plan.dropped].sort((a, b) => a - b).map((i) => i * 20));
    expect(frames.reduce((ms, f) => ms + f.durationMs, 0)).toBe(call.durationMs);
    const expected = expected16k(call.caller, result.frames);
    const got = gateway.tap.pcm(result.callSid, 'caller');
    const firstGap = 10 * 320; // 16 kHz samples before the first lost frame are untouched
    expect(firstDifference(got.subarray(0, firstGap), expected.subarray(0, firstGap))).toBe(-1);
  });

  it('streams at real-time pace and shows the call live while it runs', async () => {
    const call = demoCall('greeting');
    const started = performance.now();
    const running = simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller: call.caller,
      agent: call.agent,
      callSid: 'CAlive00000000000000000000000000001',
    });
    const live = await eventually(async () => {
      const { body } = await gateway.get('/v1/calls');
      const found = body.calls.find(
        (c: { callSid: string }) => c.callSid === 'CAlive00000000000000000000000000001',
      );
      expect(found?.legs[0].audioSeconds).toBeGreaterThan(1);
      return found;
    });
    expect(live.state).toBe('live');
    const result = await running;
    expect(performance.now() - started).toBeGreaterThan(4900);
    expect(result.closeCode).toBe(1000);
    const { body } = await gateway.get('/v1/calls');
    expect(body.calls.map((c: { callSid: string }) => c.callSid)).not.toContain(result.callSid);
  }, 15_000);

  it('takes leg labels and mode from the stream parameters voxline put in its TwiML', async () => {
    const result = await playDemo(gateway, 'greeting', {
      customParameters: { inboundLabel: 'customer', outboundLabel: 'rep', from: '+15551230000' },
    });
    const details = await gateway.call(result.callSid);
    expect(details.legs.map((leg) => leg.label)).toEqual(['customer', 'rep']);
    expect(details.customParameters).toMatchObject({ from: '+15551230000' });
  });

  it('runs many calls at once without mixing them up', async () => {
    const call = demoCall('greeting');
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        simulateTwilioCall({
          url: gateway.mediaUrl,
          authToken: AUTH_TOKEN,
          caller: i % 2 ? call.caller : call.agent, // half the calls have the legs swapped
          agent: i % 2 ? call.agent : call.caller,
          pace: 'fast',
        }),
      ),
    );
    const reference = { caller: expected16k(call.caller, 250), agent: expected16k(call.agent, 250) };
    for (const [i, result] of results.entries()) {
      expect(result.closeCode).toBe(1000);
      const inbound = gateway.tap.pcm(result.callSid, 'caller');
      expect(firstDifference(inbound, i % 2 ? reference.caller : reference.agent)).toBe(-1);
    }
  });
});
