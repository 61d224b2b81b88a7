import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import type { Call } from '../../../src/calls/call.js';
import { PlivoStream, postAnswer } from '../../doubles/plivo-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { amplitudeAt, sine } from '../../helpers/signal.js';

const PLIVO_TOKEN = 'plivo-auth-token-0123456789abcdef';
const greeting = demoCall('greeting');

describe('audio back into a bidirectional Plivo stream (agent mode)', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ PLIVO_AUTH_TOKEN: PLIVO_TOKEN });
  });
  afterAll(() => gateway.close());

  /** An agent-mode call: answered with ?mode=agent, the caller's track streamed at real-time pace. */
  async function agentCall(callUuid: string) {
    const answer = await postAnswer(`${gateway.baseUrl}/plivo/answer?mode=agent`, PLIVO_TOKEN, {
      CallUUID: callUuid,
    });
    const plivo = await PlivoStream.open({
      url: answer.stream?.url ?? '',
      callId: callUuid,
      tracks: ['inbound'],
    });
    plivo.sendStart();
    const running = plivo.play({ inbound: greeting.caller }, { realtime: true }).then(() => plivo.hangUp());
    const call = await eventually(() => {
      const live = gateway.app.registry.get(callUuid);
      if (!live?.outbound) throw new Error('not live yet');
      return live as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { plivo, call, running };
  }

  it('sends 16 kHz PCM as 8 kHz μ-law playAudio; the checkpoint is answered once it has played', async () => {
    const { plivo, call, running } = await agentCall('agent000-0000-0000-0000-000000000001');
    expect(call.start).toMatchObject({
      ingress: 'plivo',
      mode: 'agent',
      bidirectional: true,
      tracks: ['inbound'],
    });
    const tone = sine(16000, 16000, 1000, 8000); // 1 s at 1 kHz
    const sentAt = performance.now();
    for (let at = 0; at < tone.length; at += 320) call.outbound.sendPcm(tone.subarray(at, at + 320));
    const mark = await call.outbound.mark('greeting-done');
    expect(mark).toEqual({ name: 'greeting-done', cleared: false });
    expect(performance.now() - sentAt).toBeGreaterThan(900); // Plivo plays at real time before answering
    await running;
    expect(plivo.received.invalid).toEqual([]);
    expect(plivo.received.playedStreams).toEqual(['greeting-done']);
    expect(plivo.received.mulaw.length).toBe(8000);
    expect(amplitudeAt(mulawToPcm(plivo.received.mulaw), 8000, 1000, 100, 7900)).toBeGreaterThan(7800);
  }, 15_000);

  it('clear sends clearAudio; the checkpoint it dropped resolves cleared when clearedAudio comes, a later one plays', async () => {
    const { plivo, call, running } = await agentCall('agent000-0000-0000-0000-000000000002');
    call.outbound.sendPcm(sine(48000, 16000, 500, 8000)); // 3 s queued at Plivo
    const dropped = call.outbound.mark('long-answer');
    const clearedAt = performance.now();
    call.outbound.clear();
    expect(await dropped).toEqual({ name: 'long-answer', cleared: true });
    expect(performance.now() - clearedAt).toBeLessThan(500);
    call.outbound.sendPcm(sine(3200, 16000, 500, 8000)); // 200 ms after the barge-in
    expect(await call.outbound.mark('short')).toEqual({ name: 'short', cleared: false });
    await running;
    expect(plivo.received.clearedAudios).toBe(1);
    expect(plivo.received.playedStreams).toEqual(['short']); // Plivo never answers a dropped checkpoint
    expect(plivo.received.invalid).toEqual([]);
  }, 15_000);

  it('checkpoints still waiting resolve cleared when the call ends, and sending after the end fails clearly', async () => {
    const { call, running } = await agentCall('agent000-0000-0000-0000-000000000003');
    call.outbound.sendPcm(sine(160000, 16000, 500, 8000)); // 10 s: the call ends first
    const mark = call.outbound.mark('never-played');
    await running;
    expect(await mark).toEqual({ name: 'never-played', cleared: true });
    expect(() => call.outbound.sendPcm(new Int16Array(320))).toThrow(/the call has ended/);
  }, 15_000);

  it('transcribe calls offer no outbound audio', async () => {
    const callUuid = 'listen00-0000-0000-0000-000000000001';
    const answer = await postAnswer(`${gateway.baseUrl}/plivo/answer`, PLIVO_TOKEN, { CallUUID: callUuid });
    const plivo = await PlivoStream.open({
      url: answer.stream?.url ?? '',
      callId: callUuid,
      tracks: ['inbound', 'outbound'],
    });
    plivo.sendStart();
    await plivo.play({ inbound: greeting.caller, outbound: greeting.agent });
    await eventually(() => expect(gateway.app.registry.get(callUuid)).toBeDefined());
    expect(gateway.app.registry.get(callUuid)?.outbound).toBeUndefined();
    await plivo.hangUp();
    expect(plivo.received.messages).toEqual([]);
  });
});
