import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmDouble } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { AriDouble, type ExternalMedia } from './ari-double.js';

/* Everything ARI sends (events, REST answers, RTP) is a containment boundary; and agent audio back. */

const greeting = demoCall('greeting');
let gateway: Gateway | undefined;
let ari: AriDouble | undefined;
let llm: LlmDouble | undefined;
let vllm: VllmRealtimeDouble | undefined;

afterEach(async () => {
  await gateway?.close();
  await ari?.close();
  await llm?.close();
  await vllm?.close();
  gateway = ari = llm = vllm = undefined;
});

async function start(env: Record<string, string> = {}): Promise<{ gw: Gateway; ari: AriDouble }> {
  ari = new AriDouble();
  const url = await ari.listen();
  gateway = await startGateway({
    ARI_URL: url,
    ARI_USERNAME: ari.username,
    ARI_PASSWORD: ari.password,
    ...env,
  });
  const double = ari;
  await eventually(() => expect(double.subscribers).toBe(1));
  return { gw: gateway, ari: double };
}

async function mediaOf(double: AriDouble, callerId: string): Promise<ExternalMedia> {
  return eventually(() => {
    const m = double.mediaFor(callerId);
    expect(m).toBeDefined();
    return m as ExternalMedia;
  });
}

/** A good call after whatever came before: its audio counted, its end seen. */
async function goodCall(gw: Gateway, double: AriDouble, callSid: string): Promise<void> {
  double.stasisStart(callSid);
  const media = await mediaOf(double, callSid);
  await eventually(async () => expect((await gw.get(`/v1/calls/${callSid}`)).body.state).toBe('live'));
  await double.sendRtp(media, greeting.caller.subarray(0, 8000));
  await eventually(async () =>
    expect((await gw.get(`/v1/calls/${callSid}`)).body.legs[0].audioSeconds).toBe(1),
  );
  double.channelEvent('StasisEnd', callSid);
  await eventually(async () => expect((await gw.get(`/v1/calls/${callSid}`)).body.state).toBe('ended'));
}

const channelish = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue(),
  fc.record(
    { id: fc.oneof(fc.string(), fc.integer(), fc.constant('voxline-x')), name: fc.jsonValue() },
    { requiredKeys: [] },
  ),
);
const eventish = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.record(
    {
      type: fc.oneof(
        fc.constantFrom(
          'StasisStart',
          'StasisEnd',
          'ChannelDestroyed',
          'ChannelDtmfReceived',
          'ChannelHangupRequest',
        ),
        fc.jsonValue(),
      ),
      channel: channelish,
      digit: fc.jsonValue(),
    },
    { requiredKeys: [] },
  ),
);

describe('Asterisk ARI: containment', () => {
  it('fuzzed event JSON and RTP bytes leave the process up, and a good call still works', async () => {
    // Fuzzed StasisStarts with fresh ids are calls too: shutdown need not wait on them.
    const { gw, ari: double } = await start({ SHUTDOWN_DRAIN_MS: '0' });
    // A live call whose stream gets the fuzzed datagrams (from its real source), and a stranger.
    double.stasisStart('fuzz-live');
    const media = await mediaOf(double, 'fuzz-live');
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', resolve));
    try {
      await fc.assert(
        fc.asyncProperty(eventish, fc.uint8Array({ maxLength: 300 }), async (event, bytes) => {
          double.emit(event);
          await double.sendRaw(media, bytes);
          await new Promise<void>((resolve, reject) =>
            stranger.send(bytes, media.port, media.host, (err) => (err ? reject(err) : resolve())),
          );
        }),
        { numRuns: 300 },
      );
      // RTP-shaped but odd: a lone payload byte, a CSRC count past the end, a padding byte too big.
      await double.sendRaw(media, Buffer.from([0x80, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]));
      await double.sendRaw(media, Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
      await double.sendRaw(media, Buffer.from([0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]));
    } finally {
      stranger.close();
    }
    expect((await gw.get('/healthz')).status).toBe(200);
    await goodCall(gw, double, 'after-fuzz');
    const metrics = (await gw.get('/metrics')).body as string;
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="ari",reason="unknown_rtp_source"\} [1-9]/,
    );
  }, 60_000);

  it('a REST error during set-up ends only that call, logged; the next call works', async () => {
    const { gw, ari: double } = await start();
    double.failNext.set('/channels/externalMedia', 500);
    double.stasisStart('fails-setup');
    await eventually(() => expect(gw.logs.map((l) => l.msg)).toContain('ARI call set-up failed: hanging up'));
    await eventually(() => expect(double.deleted).toContain('fails-setup'));
    await goodCall(gw, double, 'after-error');
  });

  it('the caller hangs up while set-up waits on Asterisk: no call opens, and every channel and bridge made for it is deleted', async () => {
    const { gw, ari: double } = await start();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    double.holdNext.set('/channels/externalMedia', held);
    double.stasisStart('gone-early');
    await eventually(() =>
      expect(double.requests.some((r) => r.path === '/ari/channels/externalMedia')).toBe(true),
    );
    double.channelEvent('StasisEnd', 'gone-early');
    // The bridge made so far goes at once; the caller's channel is Asterisk's to end, not voxline's.
    await eventually(() => expect(double.deleted).toEqual([...double.bridges.keys()]));
    release(); // now the externalMedia channel is made, after the call has ended
    const made = () => [...double.bridges.keys(), ...double.media.keys()];
    await eventually(() => {
      expect(made()).toHaveLength(2); // one bridge, one externalMedia channel
      for (const id of made()) expect(double.deleted).toContain(id);
    });
    expect(double.deleted).not.toContain('gone-early');
    expect((await gw.get('/v1/calls/gone-early')).status).toBe(404);
    expect(gw.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
    await goodCall(gw, double, 'after-early-hangup');
  });

  it('the events socket drops: voxline reconnects and takes the next call', async () => {
    const { gw, ari: double } = await start();
    double.dropSubscribers();
    await eventually(() => expect(double.subscribers).toBe(0));
    await eventually(() => expect(double.subscribers).toBe(1), 5000);
    await goodCall(gw, double, 'after-reconnect');
  });

  it('agent mode: the greeting goes back as 20 ms μ-law RTP to the externalMedia source', async () => {
    llm = new LlmDouble(() => ({ text: 'Goodbye.' }));
    await llm.listen();
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    const { gw, ari: double } = await start({
      VLLM_URL: vllm.url,
      ARI_MODE: 'agent',
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'sk-test',
      AGENT_GREETING: 'Hello, this is voxline.',
    });
    double.stasisStart('agent-call');
    const media = await mediaOf(double, 'agent-call');
    await eventually(() => expect(media.received.length).toBeGreaterThan(25), 10_000);
    expect(media.received.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    const sequences = media.received.map((p) => p.sequence);
    expect(sequences.slice(1).every((s, i) => s === ((sequences[i] + 1) & 0xffff))).toBe(true);
    const { body } = await gw.get('/v1/calls/agent-call');
    expect(body).toMatchObject({ ingress: 'ari', mode: 'agent', bidirectional: true });
    double.channelEvent('StasisEnd', 'agent-call');
    await eventually(async () => expect((await gw.get('/v1/calls/agent-call')).body.state).toBe('ended'));
  }, 30_000);
});
