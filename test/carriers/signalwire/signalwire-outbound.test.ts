import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Call } from '../../../src/calls/call.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { amplitudeAt, firstDifference, sine } from '../../helpers/signal.js';
import { mulawTo8k } from '../stream-edge-harness.js';
import { type Codec, SignalWireStream } from './signalwire-stream-client.js';

/*
 * Agent mode on SignalWire (<Connect><Stream>, bidirectional): the agent's audio goes back as
 * `media` in the stream's own codec and rate (μ-law 8 kHz, L16 16 or 24 kHz, in the configured
 * byte order), marks resolve when SignalWire echoes them, `clear` makes it drop what is queued
 * and echo the marks at once (resolved as cleared). Also the handshake timeout, on a clock the
 * test moves.
 */

const SIGNING_KEY = 'PSK_signalwire-signing-key-0123456789';
const TOKEN = 'signalwire-stream-token-0123456789';

describe('SignalWire agent mode: audio back into the call', () => {
  let gateway: Gateway;
  let clock: ManualClock;
  let n = 0;
  beforeAll(async () => {
    clock = new ManualClock();
    gateway = await startGateway(
      {
        SIGNALWIRE_SIGNING_KEY: SIGNING_KEY,
        SIGNALWIRE_STREAM_TOKEN: TOKEN,
        SIGNALWIRE_L16_BYTE_ORDER: 'big',
      },
      [],
      { clock },
    );
  });
  afterAll(() => gateway.close());

  async function agentCall(codec: Codec) {
    const callSid = `CAswagent${String(++n).padStart(23, '0')}`;
    const stream = await SignalWireStream.open({
      url: `${gateway.baseUrl.replace(/^http/, 'ws')}/signalwire/media`,
      token: TOKEN,
      codec,
      byteOrder: 'big',
      callSid,
      tracks: ['inbound_track'],
      parameters: { voxlineMode: 'agent' },
    });
    stream.connected();
    stream.start();
    const call = await eventually(() => {
      const found = gateway.app.registry.get(callSid);
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    return { call, stream };
  }

  it('L16@24000h: the agent’s 16 kHz audio goes back as L16 at 24 kHz (big-endian, as configured); the mark resolves on SignalWire’s echo', async () => {
    const { call, stream } = await agentCall('L16@24000h');
    expect(call.start).toMatchObject({ ingress: 'signalwire', mode: 'agent', bidirectional: true });
    call.outbound.sendPcm(sine(16000, 16000, 1000, 8000)); // 1 s at 1 kHz
    let resolved: unknown;
    void call.outbound.mark('greeting-done').then((r) => {
      resolved = r;
    });
    await eventually(() => expect(stream.receivedPcm().length).toBe(24000));
    expect(amplitudeAt(stream.receivedPcm(), 24000, 1000, 1200, 22800)).toBeGreaterThan(7000);
    expect(resolved).toBeUndefined(); // not yet played out
    stream.playOut();
    await eventually(() => expect(resolved).toEqual({ name: 'greeting-done', cleared: false }));
    await stream.stop();
  });

  it('L16@16000h: sample-exact; PCMU@8000h: μ-law at 8 kHz', async () => {
    const tone = sine(8000, 16000, 500, 8000);
    const l16 = await agentCall('L16@16000h');
    l16.call.outbound.sendPcm(tone);
    await eventually(() => expect(l16.stream.receivedPcm().length).toBe(8000));
    expect(firstDifference(l16.stream.receivedPcm(), tone)).toBe(-1);
    await l16.stream.stop();

    const pcmu = await agentCall('PCMU@8000h');
    pcmu.call.outbound.sendPcm(tone);
    await eventually(() => expect(Buffer.concat(pcmu.stream.media).length).toBe(4000));
    const decoded = mulawTo8k(Buffer.concat(pcmu.stream.media));
    expect(amplitudeAt(decoded, 8000, 500, 400, 3600)).toBeGreaterThan(7000);
    await pcmu.stream.stop();
  });

  it('clear: SignalWire drops the queued audio and echoes the mark, which resolves cleared', async () => {
    const { call, stream } = await agentCall('L16@16000h');
    call.outbound.sendPcm(sine(48000, 16000, 300, 8000));
    const mark = call.outbound.mark('long');
    await eventually(() => expect(stream.receivedPcm().length).toBe(48000));
    call.outbound.clear();
    expect(await mark).toEqual({ name: 'long', cleared: true });
    expect(stream.clears).toBe(1);
    expect(stream.marksEchoed).toEqual(['long']);
    await stream.stop();
  });

  it('a stream that sends no start is closed when the handshake timeout passes', async () => {
    const stream = await SignalWireStream.open({
      url: `${gateway.baseUrl.replace(/^http/, 'ws')}/signalwire/media`,
      token: TOKEN,
      codec: 'PCMU@8000h',
      callSid: 'CAswtimeout000000000000000000001',
      tracks: ['inbound_track'],
    });
    stream.connected();
    await clock.advance(gateway.config.media.handshakeTimeoutMs + 1);
    const closed = await stream.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/no start message within/);
  });
});
