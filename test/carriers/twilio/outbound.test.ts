import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import type { Call } from '../../../src/calls/call.js';
import { simulateTwilioCall } from '../../../src/simulator/twilio-call-simulator.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { amplitudeAt, sine } from '../../helpers/signal.js';

describe('audio back into a bidirectional (<Connect><Stream>) call', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.close());

  const liveCall = (callSid: string) =>
    eventually(() => {
      const call = gateway.app.registry.get(callSid);
      if (!call?.outbound) throw new Error('not live yet');
      return call as Call & { outbound: NonNullable<Call['outbound']> };
    });

  it('sends 16 kHz PCM as 8 kHz μ-law media; the mark comes back once it has played', async () => {
    const callSid = 'CAagent00000000000000000000000001';
    const caller = demoCall('greeting').caller;
    const running = simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller,
      callSid,
      customParameters: { voxlineMode: 'agent' },
    });
    const call = await liveCall(callSid);
    expect(call.start).toMatchObject({ mode: 'agent', bidirectional: true, tracks: ['inbound'] });

    const tone = sine(16000, 16000, 1000, 8000); // 1 s at 1 kHz
    const sentAt = performance.now();
    for (let at = 0; at < tone.length; at += 320) call.outbound.sendPcm(tone.subarray(at, at + 320));
    const mark = await call.outbound.mark('greeting-done');
    const playedMs = performance.now() - sentAt;
    expect(mark).toEqual({ name: 'greeting-done', cleared: false });
    expect(playedMs).toBeGreaterThan(900); // Twilio plays at real time before echoing

    const result = await running;
    expect(result.received.marks).toEqual(['greeting-done']);
    expect(result.received.mulaw.length).toBe(8000);
    const heard = mulawToPcm(result.received.mulaw);
    expect(amplitudeAt(heard, 8000, 1000, 100, 7900)).toBeGreaterThan(7800);
  }, 15_000);

  it('clear drops queued audio and the pending mark comes back at once, flagged cleared', async () => {
    const callSid = 'CAagent00000000000000000000000002';
    const running = simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller: demoCall('greeting').caller,
      callSid,
      customParameters: { voxlineMode: 'agent' },
    });
    const call = await liveCall(callSid);
    call.outbound.sendPcm(sine(48000, 16000, 500, 8000)); // 3 s queued at Twilio
    const marked = call.outbound.mark('long-answer');
    const clearedAt = performance.now();
    call.outbound.clear();
    expect(await marked).toEqual({ name: 'long-answer', cleared: true });
    expect(performance.now() - clearedAt).toBeLessThan(500);
    const result = await running;
    expect(result.received.clears).toBe(1);
  }, 15_000);

  it('pending marks resolve as cleared when the call ends, and sending after the end fails clearly', async () => {
    const callSid = 'CAagent00000000000000000000000003';
    const running = simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller: demoCall('greeting').caller,
      callSid,
      customParameters: { voxlineMode: 'agent' },
    });
    const call = await liveCall(callSid);
    call.outbound.sendPcm(sine(160000, 16000, 500, 8000)); // 10 s: the call ends first
    const mark = call.outbound.mark('never-played');
    await running;
    expect(await mark).toEqual({ name: 'never-played', cleared: true });
    expect(() => call.outbound.sendPcm(new Int16Array(320))).toThrow(/the call has ended/);
  }, 15_000);

  it('listen-only (transcribe) calls offer no outbound audio', async () => {
    const call = demoCall('greeting');
    const result = await simulateTwilioCall({
      url: gateway.mediaUrl,
      authToken: AUTH_TOKEN,
      caller: call.caller,
      agent: call.agent,
      pace: 'fast',
    });
    expect(gateway.app.registry.get(result.callSid)?.outbound).toBeUndefined();
    expect(result.received.messages).toBe(0);
  });
});
