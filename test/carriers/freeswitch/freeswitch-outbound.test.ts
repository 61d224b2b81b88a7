import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../../src/calls/call.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';
import { FreeSwitchFork, type Module } from './freeswitch-fork-client.js';

/*
 * Agent mode on FreeSWITCH forks, on a clock the test moves: voxline sends the agent's audio as
 * the module's play message (mod_audio_fork `playAudio`, mod_audio_stream `streamAudio`) in
 * 200 ms chunks, one chunk ahead; a mark resolves once the audio before it has had time to play;
 * clear sends `killAudio`. Also the handshake timeout, on the same clock.
 */

const SECRET = 'freeswitch-shared-secret-0123456789';

describe('FreeSWITCH agent mode: audio back into the call', () => {
  let gateway: Gateway;
  let clock: ManualClock;
  let n = 0;
  beforeAll(async () => {
    clock = new ManualClock();
    gateway = await startGateway({ FREESWITCH_STREAM_SECRET: SECRET }, [], { clock });
  });
  afterAll(() => gateway.close());

  async function agentCall(module: Module, rate: 8000 | 16000) {
    const callSid = `fs-agent-${++n}`;
    const url = `${gateway.baseUrl.replace(/^http/, 'ws')}/freeswitch/stream?mode=agent&rate=${rate}&token=${SECRET}`;
    const fork = await FreeSwitchFork.open({ url, module, rate, metadata: JSON.stringify({ callSid }) });
    await fork.stream([new Int16Array(rate / 10)]);
    const call = await eventually(() => {
      const found = gateway.app.registry.get(callSid);
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, fork };
  }

  it('mod_audio_fork at 16 kHz: playAudio in 200 ms chunks, sample-exact; the mark resolves when 1 s has had time to play', async () => {
    const { call, fork } = await agentCall('mod_audio_fork', 16000);
    expect(call.start).toMatchObject({ ingress: 'freeswitch', mode: 'agent', bidirectional: true });
    const tone = sine(16000, 16000, 1000, 8000); // 1 s at 1 kHz
    call.outbound.sendPcm(tone);
    let resolved: unknown;
    void call.outbound.mark('greeting-done').then((r) => {
      resolved = r;
    });
    await clock.advance(20);
    await eventually(() => expect(fork.received.plays).toHaveLength(1)); // one chunk ahead, not a burst
    await clock.advance(880);
    expect(resolved).toBeUndefined();
    await eventually(() => expect(fork.received.plays).toHaveLength(5));
    await clock.advance(200);
    expect(resolved).toEqual({ name: 'greeting-done', cleared: false });
    expect(fork.received.plays.every((p) => p.sampleRate === 16000 && p.pcm.length === 3200)).toBe(true);
    expect(firstDifference(fork.playedPcm(), tone)).toBe(-1);
    await fork.stop();
  });

  it('mod_audio_stream at 8 kHz: streamAudio, downsampled', async () => {
    const { call, fork } = await agentCall('mod_audio_stream', 8000);
    call.outbound.sendPcm(sine(8000, 16000, 500, 8000)); // 0.5 s at 500 Hz
    const mark = call.outbound.mark('half-second');
    await clock.advance(600);
    expect(await mark).toEqual({ name: 'half-second', cleared: false });
    await eventually(() => expect(fork.received.plays).toHaveLength(3));
    expect(fork.received.plays.map((p) => [p.sampleRate, p.pcm.length])).toEqual([
      [8000, 1600],
      [8000, 1600],
      [8000, 800],
    ]);
    expect(amplitudeAt(fork.playedPcm(), 8000, 500, 400, 3600)).toBeGreaterThan(7000);
    await fork.stop();
  });

  it('clear: killAudio, nothing more is played, the pending mark resolves cleared', async () => {
    for (const module of ['mod_audio_fork', 'mod_audio_stream'] as const) {
      const { call, fork } = await agentCall(module, 16000);
      call.outbound.sendPcm(sine(16000, 16000 * 3, 300, 8000)); // 3 s
      const mark = call.outbound.mark('long');
      await clock.advance(100);
      await eventually(() => expect(fork.received.plays.length).toBeGreaterThan(0));
      call.outbound.clear();
      expect(await mark).toEqual({ name: 'long', cleared: true });
      const played = fork.received.plays.length;
      await clock.advance(1000);
      if (module === 'mod_audio_fork') await eventually(() => expect(fork.received.kills).toBe(1));
      // mod_audio_stream has no kill command: it raises the message as mod_audio_stream::json.
      else await eventually(() => expect(fork.received.events).toEqual(['{"type":"killAudio"}']));
      expect(fork.received.plays).toHaveLength(played);
      await fork.stop();
    }
  });

  it('a fork that sends neither metadata nor audio is closed when the handshake timeout passes', async () => {
    const url = `${gateway.baseUrl.replace(/^http/, 'ws')}/freeswitch/stream?token=${SECRET}`;
    const fork = await FreeSwitchFork.open({ url, module: 'mod_audio_stream', rate: 8000 });
    await clock.advance(gateway.config.media.handshakeTimeoutMs + 1);
    const closed = await fork.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/no metadata or audio within/);
  });
});
