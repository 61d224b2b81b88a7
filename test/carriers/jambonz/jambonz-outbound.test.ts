import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../../src/calls/call.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';
import { JambonzListen } from './jambonz-listen-client.js';

/*
 * Agent mode on jambonz (listen with bidirectionalAudio.streaming): voxline streams the agent's
 * audio back as binary L16 at the listen's rate, marks resolve when jambonz reports them played
 * out, clear sends killAudio and clearMarks and resolves the waiting marks as cleared. Also the
 * handshake timeout, on a clock the test moves.
 */

const SECRET = 'jambonz-shared-secret-0123456789';

describe('jambonz agent mode: audio back into the call', () => {
  let gateway: Gateway;
  let clock: ManualClock;
  let n = 0;
  beforeAll(async () => {
    clock = new ManualClock();
    gateway = await startGateway({ JAMBONZ_STREAM_SECRET: SECRET }, [], { clock });
  });
  afterAll(() => gateway.close());

  const url = (query: string) =>
    `${gateway.baseUrl.replace(/^http/, 'ws')}/jambonz/listen?token=${SECRET}${query}`;

  async function agentCall(sampleRate: number) {
    const callSid = `jz-agent-${++n}`;
    const listen = await JambonzListen.open({
      url: url('&mode=agent'),
      sampleRate,
      mixType: 'mono',
      metadata: { callSid, from: '+1', to: '+2' },
    });
    await listen.stream([new Int16Array(sampleRate / 10)]);
    const call = await eventually(() => {
      const found = gateway.app.registry.get(callSid);
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, listen };
  }

  it('16 kHz: binary L16 back, sample-exact; the mark resolves when jambonz reports it played out', async () => {
    const { call, listen } = await agentCall(16000);
    expect(call.start).toMatchObject({ ingress: 'jambonz', mode: 'agent', bidirectional: true });
    const tone = sine(16000, 16000, 1000, 8000);
    call.outbound.sendPcm(tone);
    let resolved: unknown;
    void call.outbound.mark('greeting-done').then((r) => {
      resolved = r;
    });
    await eventually(() => expect(listen.playedPcm().length).toBe(16000));
    expect(firstDifference(listen.playedPcm(), tone)).toBe(-1);
    expect(resolved).toBeUndefined();
    listen.playOut();
    await eventually(() => expect(resolved).toEqual({ name: 'greeting-done', cleared: false }));
    await listen.stop();
  });

  it('8 and 24 kHz: converted to the listen’s rate', async () => {
    for (const [rate, samples] of [
      [8000, 4000],
      [24000, 12000],
    ] as const) {
      const { call, listen } = await agentCall(rate);
      call.outbound.sendPcm(sine(8000, 16000, 500, 8000)); // 0.5 s
      await eventually(() => expect(listen.playedPcm().length).toBe(samples));
      expect(
        amplitudeAt(listen.playedPcm(), rate, 500, samples / 10, samples - samples / 10),
      ).toBeGreaterThan(7000);
      await listen.stop();
    }
  });

  it('clear: killAudio and clearMarks; the waiting mark resolves cleared', async () => {
    const { call, listen } = await agentCall(16000);
    call.outbound.sendPcm(sine(48000, 16000, 300, 8000));
    const mark = call.outbound.mark('long');
    await eventually(() => expect(listen.playedPcm().length).toBe(48000));
    call.outbound.clear();
    expect(await mark).toEqual({ name: 'long', cleared: true });
    await eventually(() => expect([listen.kills, listen.clearMarks]).toEqual([1, 1]));
    expect(listen.played).toHaveLength(0);
    await listen.stop();
  });

  it('agent mode with mixType stereo is refused (what the agent says would come back on the callee channel)', async () => {
    const listen = await JambonzListen.open({
      url: url('&mode=agent'),
      sampleRate: 8000,
      mixType: 'stereo',
      metadata: { callSid: 'jz-agent-stereo' },
    });
    const closed = await listen.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/agent mode takes mixType mono/);
    expect(gateway.app.registry.get('jz-agent-stereo')).toBeUndefined();
  });

  it('a listen that sends no metadata is closed when the handshake timeout passes', async () => {
    const listen = await JambonzListen.open({ url: url(''), sampleRate: 8000, mixType: 'mono' });
    await clock.advance(gateway.config.media.handshakeTimeoutMs + 1);
    const closed = await listen.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/no listen metadata within/);
  });
});
