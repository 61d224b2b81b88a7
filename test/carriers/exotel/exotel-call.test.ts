import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import type { Call } from '../../../src/calls/call.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { eventually } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { firstDifference, sine } from '../../helpers/signal.js';
import { schemaValidator } from '../../helpers/webhooks.js';
import { type EdgeGateway, mulawTo8k, socketUrl, spoken, startEdgeGateway } from '../stream-edge-harness.js';
import { ExotelStream } from './exotel-stream-client.js';

/*
 * Exotel end to end: a client written from Exotel's docs opens /exotel/stream with the secret in
 * the URL (Basic), plays the demo call's caller leg as raw/slin 8 kHz, the vLLM double transcribes
 * it, webhooks go to a real receiver. Agent mode: audio back in 100 ms+ chunks of 320-byte multiples, marks, clear.
 */

const STREAM_SECRET = 'exotel-stream-secret-0123456789';
const call = demoCall('support-call');

let gateway: EdgeGateway;
let base: string;
let n = 0;
const sid = () => `CAex${String(++n).padStart(28, '0')}`;

beforeAll(async () => {
  gateway = await startEdgeGateway({ EXOTEL_STREAM_SECRET: STREAM_SECRET }, new ReferenceAudio([call]));
  base = socketUrl(gateway, '');
}, 30_000);
afterAll(() => gateway.close());

const url = (query = '', secret = STREAM_SECRET) =>
  `${base.replace('://', `://exotel:${secret}@`)}/exotel/stream${query}`;

describe('Exotel: the caller transcribed', () => {
  it('raw/slin 8 kHz, one leg: transcript, audio sample-exact, DTMF, the webhooks of a call', async () => {
    const callSid = sid();
    const stream = await ExotelStream.open(url(), callSid);
    stream.connected();
    stream.start();
    const pcm8 = mulawTo8k(call.caller);
    stream.stream(pcm8.subarray(0, 24_000));
    stream.dtmf('7');
    stream.stream(pcm8.subarray(24_000));
    expect((await stream.stop()).code).toBe(1000);

    const details = await eventually(async () => {
      const { body } = await gateway.v1(`/v1/calls/${callSid}`);
      expect(body.state).toBe('ended');
      return body;
    }, 20_000);
    expect(details).toMatchObject({
      ingress: 'exotel',
      streamSid: stream.streamSid,
      mode: 'transcribe',
      endReason: 'stop',
      dtmf: [{ digit: '7', atMs: 3000 }],
      customParameters: { from: '+919876543210', to: '+918047491899' },
      malformedMessages: { total: 0 },
    });
    const said = await gateway.transcriptOf(callSid);
    expect(said('caller')).toBe(spoken(call, 'caller'));
    const expected = new Upsampler8to16().pushPcm(pcm8);
    expect(firstDifference(gateway.tap.pcm(callSid, 'caller'), expected)).toBe(-1);

    const events = await eventually(() => {
      const list = gateway.eventsOf(callSid);
      expect(list.map((e) => e.type)).toContain('call.ended');
      return list;
    }, 20_000);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('call.started');
    expect(types).toContain('dtmf');
    expect(types).toContain('transcript.final');
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'exotel',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
  }, 30_000);
});

describe('Exotel: the gate before the upgrade', () => {
  it('a wrong or missing secret, or a bad ?mode=, gets no socket', async () => {
    const wrong = await ExotelStream.open(url('', 'not-the-secret-000000000'), sid());
    expect((await wrong.closed).httpStatus).toBe(401);
    const none = await ExotelStream.open(`${base}/exotel/stream`, sid());
    expect((await none.closed).httpStatus).toBe(401);
    const mode = await ExotelStream.open(url('?mode=bogus'), sid());
    expect((await mode.closed).httpStatus).toBe(400);
    const token = await ExotelStream.open(`${base}/exotel/stream?token=${STREAM_SECRET}`, sid());
    expect(token.open).toBe(true);
    token.socket.close();
  });
});

describe('Exotel agent mode', () => {
  it('audio back in chunks of 100 ms or more, 320-byte multiples, the tail padded with silence at a mark; the mark resolves on the echo; clear drops it', async () => {
    const callSid = sid();
    const stream = await ExotelStream.open(url('?mode=agent'), callSid);
    stream.connected();
    stream.start();
    const live = await eventually(() => {
      const found = gateway.app.registry.get(callSid);
      if (!found?.outbound) throw new Error('not live yet');
      return found as Call & { outbound: NonNullable<Call['outbound']> };
    });
    expect(live.start).toMatchObject({ ingress: 'exotel', mode: 'agent', bidirectional: true });
    // 1.01 s in the agent's 20 ms frames and one 10 ms tail: 8,080 samples at 8 kHz.
    const speech = sine(16160, 16000, 1000, 8000);
    for (let at = 0; at < speech.length; at += 320) live.outbound.sendPcm(speech.subarray(at, at + 320));
    let resolved: unknown;
    void live.outbound.mark('greeting-done').then((r) => {
      resolved = r;
    });
    // The 80-sample tail goes out before the mark, padded to 20 ms with silence.
    await eventually(() => expect(stream.receivedPcm().length).toBe(8160));
    expect(Array.from(stream.receivedPcm().subarray(8080))).toEqual(new Array(80).fill(0));
    expect(
      stream
        .receivedPcm()
        .subarray(7900, 8080)
        .some((v) => v !== 0),
    ).toBe(true);
    for (const chunk of stream.media) expect(chunk.length % 320).toBe(0);
    for (const chunk of stream.media.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(1600);
    expect(resolved).toBeUndefined();
    stream.playOut();
    await eventually(() => expect(resolved).toEqual({ name: 'greeting-done', cleared: false }));

    live.outbound.sendPcm(sine(16000, 16000, 500, 8000));
    let cleared: unknown;
    void live.outbound.mark('interrupted').then((r) => {
      cleared = r;
    });
    live.outbound.clear();
    await eventually(() => expect(cleared).toEqual({ name: 'interrupted', cleared: true }));
    expect(stream.clears).toBe(1);
    await stream.stop();
  });
});

describe('Exotel: malformed frames', () => {
  it('leave the server up (fuzz)', async () => {
    const stream = await ExotelStream.open(url(), sid());
    stream.connected();
    stream.start();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .record({
              event: fc.constantFrom('media', 'start', 'dtmf', 'mark', 'stop', 'connected', 'x'),
              stream_sid: fc.oneof(fc.string(), fc.integer()),
              sequence_number: fc.oneof(fc.string(), fc.integer()),
              media: fc.anything(),
              start: fc.anything(),
              dtmf: fc.anything(),
              mark: fc.anything(),
            })
            .map((r) => JSON.stringify(r)),
        ),
        async (frame) => {
          stream.sendRaw(frame);
        },
      ),
      { numRuns: 300 },
    );
    const health = await fetch(`${gateway.baseUrl}/healthz`);
    expect(health.status).toBeLessThan(500);
    stream.socket.close();
    const next = await ExotelStream.open(url(), sid());
    expect(next.open).toBe(true);
    next.socket.close();
  });
});
