import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../../src/calls/call.js';
import type { AsteriskOutbound } from '../../../src/carriers/asterisk-ws/outbound.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';
import { mulawTo8k } from '../stream-edge-harness.js';
import { AsteriskChannel, slinToLinear } from './asterisk-ws-client.js';

/*
 * Agent mode on chan_websocket: voxline sends whole frames as binary, Asterisk (the double)
 * plays its queue one frame per tick the test gives; MARK_MEDIA is answered when the mark
 * reaches the front of the queue; FLUSH_MEDIA empties it; MEDIA_XOFF/XON hold voxline back;
 * ending the call from voxline's side sends HANGUP. Time (voxline's count of Asterisk's queue) is
 * a clock the test moves.
 */

const SECRET = 'asterisk-shared-secret-0123456789';

describe('Asterisk agent mode: audio back into the call', () => {
  let gateway: Gateway;
  let clock: ManualClock;
  let n = 0;
  beforeAll(async () => {
    clock = new ManualClock();
    gateway = await startGateway({ ASTERISK_WS_SECRET: SECRET }, [], { clock });
  });
  afterAll(() => gateway.close());

  async function agentCall(format: 'ulaw' | 'slin16', control: 'plain' | 'json' = 'plain') {
    const channelId = `1760000100.${++n}`;
    const channel = await AsteriskChannel.connect({
      url: `${gateway.baseUrl.replace(/^http/, 'ws')}/asterisk/media?mode=agent`,
      password: SECRET,
      username: 'asterisk',
      format,
      control,
      channelId,
    });
    const call = await eventually(() => {
      const found = gateway.app.registry.get(channelId.replace('.', '-'));
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, channel };
  }

  it('slin16: whole 640-byte frames, sample-exact; the mark resolves when Asterisk reports it processed', async () => {
    for (const control of ['plain', 'json'] as const) {
      const { call, channel } = await agentCall('slin16', control);
      expect(call.start).toMatchObject({ ingress: 'asterisk-ws', mode: 'agent', bidirectional: true });
      const tone = sine(16000, 16000, 1000, 8000);
      call.outbound.sendPcm(tone);
      let resolved: unknown;
      void call.outbound.mark('greeting-done').then((r) => {
        resolved = r;
      });
      await eventually(() => expect(channel.commands).toEqual(['MARK_MEDIA']));
      expect(channel.queue.filter((q) => 'frame' in q)).toHaveLength(25 * 2);
      channel.playOut(49);
      await new Promise((resolve) => setImmediate(resolve));
      expect(resolved).toBeUndefined();
      channel.playOut(1);
      await eventually(() => expect(resolved).toEqual({ name: 'greeting-done', cleared: false }));
      expect(channel.leftoverDropped).toBe(0);
      expect(firstDifference(slinToLinear(channel.playedBytes()), tone)).toBe(-1);
      await channel.hangUp();
    }
  });

  it('ulaw: downsampled and encoded; a short tail is padded to a whole frame before the mark', async () => {
    const { call, channel } = await agentCall('ulaw');
    call.outbound.sendPcm(sine(5000, 16000, 500, 8000)); // 312.5 ms: 2500 samples at 8 kHz
    const mark = call.outbound.mark('tail');
    await eventually(() => expect(channel.commands).toEqual(['MARK_MEDIA']));
    channel.playOut(16);
    expect(await mark).toEqual({ name: 'tail', cleared: false });
    expect(channel.leftoverDropped).toBe(0);
    expect(channel.playedBytes()).toHaveLength(16 * 160);
    expect(amplitudeAt(mulawTo8k(channel.playedBytes()), 8000, 500, 400, 2400)).toBeGreaterThan(7000);
    await channel.hangUp();
  });

  it('clear: FLUSH_MEDIA, the queue is gone and the waiting mark resolves cleared', async () => {
    const { call, channel } = await agentCall('slin16');
    call.outbound.sendPcm(sine(16000 * 3, 16000, 300, 8000));
    const mark = call.outbound.mark('long');
    await eventually(() => expect(channel.commands).toEqual(['MARK_MEDIA']));
    channel.playOut(10);
    call.outbound.clear();
    expect(await mark).toEqual({ name: 'long', cleared: true });
    await eventually(() => expect(channel.commands).toEqual(['MARK_MEDIA', 'FLUSH_MEDIA']));
    expect(channel.queue).toHaveLength(0);
    await channel.hangUp();
  });

  it('voxline keeps at most 10 s queued at Asterisk by its own count, and more as Asterisk plays it', async () => {
    const { call, channel } = await agentCall('slin16');
    for (let s = 0; s < 24; s++) call.outbound.sendPcm(sine(16000, 16000, 400, 8000));
    const frames = () => channel.played.length + channel.queue.filter((q) => 'frame' in q).length;
    await eventually(() => expect(frames()).toBe(500));
    await clock.advance(2000); // Asterisk played 100 frames meanwhile (by voxline's count)
    await eventually(() => expect(frames()).toBe(600));
    expect(channel.droppedFrames).toBe(0);
    await channel.hangUp();
  });

  it('MEDIA_XOFF holds voxline back (nothing dropped), MEDIA_XON lets it go on', async () => {
    const { call, channel } = await agentCall('slin16');
    channel.sendText('MEDIA_XOFF');
    channel.dtmf('1'); // after the XOFF on the socket: once it is counted, the XOFF was read
    await eventually(() => expect(call.dtmf).toHaveLength(1));
    call.outbound.sendPcm(sine(16000, 16000, 400, 8000));
    await new Promise((resolve) => setImmediate(resolve));
    expect((call.outbound as AsteriskOutbound).heldBytes).toBe(32_000);
    expect(channel.queue).toHaveLength(0);
    channel.sendText('MEDIA_XON');
    await eventually(() => expect(channel.queue).toHaveLength(50));
    expect(channel.droppedFrames).toBe(0);
    await channel.hangUp();
  });

  it('voxline ending the call sends HANGUP, then closes', async () => {
    const { call, channel } = await agentCall('ulaw', 'json');
    await call.hangUp(1000, 'agent hung up', 'agent_hangup');
    expect((await channel.closed).code).toBe(1000);
    expect(channel.hungUp).toBe(true);
    expect(channel.commands).toEqual(['HANGUP']);
  });
});
