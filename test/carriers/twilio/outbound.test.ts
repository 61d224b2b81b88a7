import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DtmfDetector } from '../../../src/audio/dtmf-detector.js';
import { mulawToPcm } from '../../../src/audio/g711.js';
import type { Call } from '../../../src/calls/call.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { playDemo } from '../../helpers/media.js';
import { amplitudeAt, sine } from '../../helpers/signal.js';

describe('audio back into a bidirectional (<Connect><Stream>) call', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.close());

  /** Starts a one-track agent-mode call at real-time pace; returns it once voxline has it live. */
  async function agentCall(callSid: string) {
    const running = playDemo(gateway, 'greeting', {
      agent: undefined,
      pace: 'realtime',
      callSid,
      customParameters: { voxlineMode: 'agent' },
    });
    const call = await eventually(() => {
      const live = gateway.app.registry.get(callSid);
      if (!live?.outbound) throw new Error('not live yet');
      return live as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, running };
  }

  it('sends 16 kHz PCM as 8 kHz μ-law media; the mark comes back once it has played', async () => {
    const callSid = 'CAagent00000000000000000000000001';
    const { call, running } = await agentCall(callSid);
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
    const { call, running } = await agentCall(callSid);
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
    const { call, running } = await agentCall(callSid);
    call.outbound.sendPcm(sine(160000, 16000, 500, 8000)); // 10 s: the call ends first
    const mark = call.outbound.mark('never-played');
    await running;
    expect(await mark).toEqual({ name: 'never-played', cleared: true });
    expect(() => call.outbound.sendPcm(new Int16Array(320))).toThrow(/the call has ended/);
  }, 15_000);

  it('keys pressed on a Twilio call go out as in-band tones the far end hears; done once they have played', async () => {
    const callSid = 'CAagent00000000000000000000000004';
    const { call, running } = await agentCall(callSid);
    const sentAt = performance.now();
    await call.sendDigits('159#');
    expect(performance.now() - sentAt).toBeGreaterThan(500); // 4 × 160 ms, played at real time
    const result = await running;
    expect(result.received.marks).toEqual(['voxline.keys']);
    const detector = new DtmfDetector(8000);
    const heard = detector.push(mulawToPcm(result.received.mulaw), 0).map((t) => t.digit);
    expect(heard.join('')).toBe('159#');
  }, 15_000);

  it('keys cut off by a clear say so; keys off the keypad are refused before anything is sent', async () => {
    const callSid = 'CAagent00000000000000000000000005';
    const { call, running } = await agentCall(callSid);
    await expect(call.sendDigits('12x')).rejects.toThrow(/keys are 1–32 of 0-9/);
    const pressing = call.sendDigits('0123456789');
    call.outbound.clear();
    await expect(pressing).rejects.toThrow(/cut off before they had all played/);
    const result = await running;
    expect(result.received.clears).toBe(1);
  }, 15_000);

  it('listen-only (transcribe) calls offer no outbound audio, and no keys', async () => {
    const callSid = 'CAlisten0000000000000000000000006';
    const running = playDemo(gateway, 'greeting', { pace: 'realtime', callSid });
    const call = await eventually(() => {
      const live = gateway.app.registry.get(callSid);
      if (!live) throw new Error('not live yet');
      return live;
    });
    expect(call.outbound).toBeUndefined();
    await expect(call.sendDigits('1')).rejects.toThrow(/carries no audio back/);
    const result = await running;
    expect(result.received.messages).toBe(0);
  }, 15_000);
});
