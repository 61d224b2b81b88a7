import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../../src/calls/call.js';
import { requestAnswer, VonageSocket, websocketEndpoint } from '../../doubles/vonage-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall, mulawAs16k } from '../../helpers/media.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';

/*
 * Agent mode on Vonage: voxline plays audio back as 20 ms binary frames at real-time pace, marks
 * are `notify` actions resolved by Vonage's `websocket:notify` echo, and `clear` is the
 * `{"action":"clear"}` action. The far end is the Vonage double, streaming the caller meanwhile.
 */

const SECRET = 'vonage-signature-secret-0123456789';
const greeting = demoCall('greeting');

describe('Vonage agent mode: audio back into the call', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ VONAGE_SIGNATURE_SECRET: SECRET });
  });
  afterAll(() => gateway.close());

  /** An agent-mode call whose caller streams for `seconds` at real-time pace; returns once live. */
  async function agentCall(callSid: string, options: { rate?: 8000 | 16000; seconds?: number } = {}) {
    const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, {
      uuid: callSid,
      method: 'POST',
      urlQuery: { mode: 'agent' },
    });
    const endpoint = websocketEndpoint(ncco);
    const vonage = await VonageSocket.open(
      options.rate ? { ...endpoint, 'content-type': `audio/l16;rate=${options.rate}` } : endpoint,
    );
    const rate = options.rate ?? 16000;
    const caller = new Int16Array((options.seconds ?? 3) * rate);
    caller.set(mulawAs16k(greeting.caller).subarray(0, caller.length));
    const running = vonage.stream(caller, 'realtime').then(() => vonage.hangUp());
    const live = await eventually(() => {
      const found = gateway.app.registry.get(callSid);
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call: live, vonage, running };
  }

  it('plays 16 kHz PCM as 640-byte frames, sample-exact and paced; the mark resolves on Vonage’s notify echo', async () => {
    const { call, vonage, running } = await agentCall('cccccccc-0000-4000-8000-000000000001');
    expect(call.start).toMatchObject({
      ingress: 'vonage',
      mode: 'agent',
      bidirectional: true,
      tracks: ['inbound'],
    });
    const tone = sine(16000, 16000, 1000, 8000); // 1 s at 1 kHz
    const sentAt = performance.now();
    call.outbound.sendPcm(tone);
    const mark = await call.outbound.mark('greeting-done');
    expect(mark).toEqual({ name: 'greeting-done', cleared: false });
    expect(performance.now() - sentAt).toBeGreaterThan(900); // paced at 20 ms a frame, not a burst
    expect(vonage.received.frames).toHaveLength(50);
    expect(vonage.received.frames.every((f) => f.length === 640)).toBe(true);
    expect(firstDifference(vonage.receivedPcm(), tone)).toBe(-1);
    expect(vonage.received.notifies).toEqual([{ voxlineMark: expect.any(String) }]);
    await vonage.hangUp();
    await running;
  }, 15_000);

  it('at 8 kHz the agent audio is downsampled to 320-byte frames', async () => {
    const { call, vonage, running } = await agentCall('cccccccc-0000-4000-8000-000000000002', { rate: 8000 });
    call.outbound.sendPcm(sine(8000, 16000, 500, 8000)); // 0.5 s at 500 Hz
    await call.outbound.mark('half-second');
    expect(vonage.received.frames).toHaveLength(25);
    expect(vonage.received.frames.every((f) => f.length === 320)).toBe(true);
    expect(amplitudeAt(vonage.receivedPcm(), 8000, 500, 400, 3800)).toBeGreaterThan(7000);
    await vonage.hangUp();
    await running;
  }, 15_000);

  it('clear drops what is queued, sends the clear action, and the pending mark resolves at once, cleared', async () => {
    const { call, vonage, running } = await agentCall('cccccccc-0000-4000-8000-000000000003');
    call.outbound.sendPcm(sine(48000, 16000, 500, 8000)); // 3 s queued
    const marked = call.outbound.mark('long-answer');
    await eventually(() => expect(vonage.received.frames.length).toBeGreaterThan(5));
    const clearedAt = performance.now();
    call.outbound.clear();
    expect(await marked).toEqual({ name: 'long-answer', cleared: true });
    expect(performance.now() - clearedAt).toBeLessThan(200);
    await eventually(() => expect(vonage.received.clears).toBe(1));
    const framesAtClear = vonage.received.frames.length;
    // Audio sent after the clear plays, and only it: 100 ms (5 frames), not what was dropped.
    call.outbound.sendPcm(sine(1600, 16000, 500, 8000));
    expect(await call.outbound.mark('after-clear')).toEqual({ name: 'after-clear', cleared: false });
    expect(vonage.received.frames.length).toBeLessThanOrEqual(framesAtClear + 5 + 1);
    // The cleared mark's audio never finished, so its notify was never sent: only the later one's.
    expect(vonage.received.notifies).toHaveLength(1);
    await vonage.hangUp();
    await running;
  }, 15_000);

  it('a notify Vonage never echoes resolves after 2 s (as played), so the agent cannot stall', async () => {
    const { call, vonage, running } = await agentCall('cccccccc-0000-4000-8000-000000000004', { seconds: 4 });
    vonage.echoNotify = false;
    call.outbound.sendPcm(sine(3200, 16000, 500, 8000)); // 200 ms
    const sentAt = performance.now();
    expect(await call.outbound.mark('unechoed')).toEqual({ name: 'unechoed', cleared: false });
    expect(performance.now() - sentAt).toBeGreaterThan(1900);
    expect(vonage.received.notifies).toHaveLength(1);
    await vonage.hangUp();
    await running;
  }, 15_000);

  it('marks still waiting resolve as cleared when the caller hangs up, and sending afterwards fails clearly', async () => {
    const { call, running } = await agentCall('cccccccc-0000-4000-8000-000000000005', { seconds: 1 });
    call.outbound.sendPcm(sine(160000, 16000, 500, 8000)); // 10 s: the call ends first
    const mark = call.outbound.mark('never-played');
    await running;
    expect(await mark).toEqual({ name: 'never-played', cleared: true });
    expect(() => call.outbound.sendPcm(new Int16Array(320))).toThrow(/the call has ended/);
    expect((await gateway.call(call.callSid)).endReason).toBe('hangup');
  }, 15_000);

  it('transcribe-mode calls offer no outbound audio', async () => {
    const callSid = 'cccccccc-0000-4000-8000-000000000006';
    const { ncco } = await requestAnswer(gateway.baseUrl, SECRET, { uuid: callSid });
    const vonage = await VonageSocket.open(websocketEndpoint(ncco));
    await vonage.stream(new Int16Array(16000));
    await eventually(() => expect(gateway.app.registry.get(callSid)).toBeDefined());
    expect(gateway.app.registry.get(callSid)?.outbound).toBeUndefined();
    await vonage.hangUp();
    expect(vonage.received.frames).toHaveLength(0);
  });
});
