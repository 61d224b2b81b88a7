import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { G722Decoder, G722Encoder } from '../../../src/audio/g722.js';
import type { Call } from '../../../src/calls/call.js';
import { fetchTexml, streamTelnyxCall, telnyxKeys } from '../../doubles/telnyx-client.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { amplitudeAt, sine } from '../../helpers/signal.js';

/*
 * An agent call on Telnyx with TELNYX_CODEC=G722: the stream is asked for in G.722 both ways, and
 * the agent's 16 kHz voice goes back as G.722 without being narrowed to 8 kHz. What comes back is
 * decoded with voxline's G.722 decoder, itself proven bit-exact against ffmpeg (test/audio/g722.test.ts).
 */

const SECRET = 'telnyx-stream-secret-g722-0123456789';
const keys = telnyxKeys();
const caller = demoCall('greeting').caller;

let gateway: Gateway;
beforeAll(async () => {
  gateway = await startGateway({
    TELNYX_PUBLIC_KEY: keys.publicKeyBase64,
    TELNYX_STREAM_SECRET: SECRET,
    TELNYX_CODEC: 'G722',
  });
}, 30_000);
afterAll(() => gateway.close());

describe('Telnyx agent call in G.722', () => {
  it('asks for G.722 both ways, and sends the agent back wideband in whole 20 ms frames, the tail padded before a mark', async () => {
    const callControlId = 'v3:g722-agent-0001';
    const answer = await fetchTexml(`${gateway.baseUrl}/telnyx/texml?mode=agent`, keys, {
      CallSid: callControlId,
    });
    expect(answer.streamAttributes).toMatchObject({
      codec: 'G722',
      bidirectionalMode: 'rtp',
      bidirectionalCodec: 'G722',
    });
    // The caller in G.722 too (1.8 s of the demo greeting, encoded for the stream).
    const running = streamTelnyxCall({
      url: answer.streamUrl ?? '',
      callControlId,
      customParameters: answer.parameters,
      mediaFormat: { encoding: 'G722', sample_rate: 16000, channels: 1 },
      tracks: { inbound: new G722Encoder().encode(upsampled(mulawToPcm(caller.subarray(0, 14400)))) },
      pace: 'realtime',
    });
    const call = await eventually(() => {
      const live = gateway.app.registry.get('v3_g722-agent-0001');
      if (!live?.outbound) throw new Error('not live yet');
      return live as Call & { outbound: NonNullable<Call['outbound']> };
    });
    // 1.01 s: 1 kHz and 5 kHz together (5 kHz cannot pass G.711 at 8 kHz), in odd-sized pieces.
    const low = sine(16160, 16000, 1000, 6000);
    const high = sine(16160, 16000, 5000, 6000);
    const voice = low.map((v, i) => v + high[i]);
    for (let at = 0; at < voice.length; at += 301) call.outbound.sendPcm(voice.subarray(at, at + 301));
    expect(await call.outbound.mark('reply-done')).toEqual({ name: 'reply-done', cleared: false });

    const result = await running;
    expect(result.received.media.every((m) => m.length % 160 === 0 && m.length <= 8000)).toBe(true);
    const heard = new G722Decoder().decode(Buffer.concat(result.received.media));
    expect(heard.length).toBe(16320); // 8,080 bytes of speech, padded to 8,160
    expect(amplitudeAt(heard, 16000, 1000, 800, 16000)).toBeGreaterThan(5000);
    expect(amplitudeAt(heard, 16000, 5000, 800, 16000)).toBeGreaterThan(5000);
    // The padding is the encoder's own silence: quiet once decoded.
    expect(Math.max(...Array.from(heard.subarray(16200), Math.abs))).toBeLessThan(600);
  }, 20_000);
});

/** 8 kHz to 16 kHz by repeating samples: a caller for the stream, not what is measured. */
function upsampled(pcm8: Int16Array): Int16Array {
  return Int16Array.from({ length: pcm8.length * 2 }, (_, i) => pcm8[i >> 1]);
}
