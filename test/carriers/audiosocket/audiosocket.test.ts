import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { encodeFrame, KIND } from '../../../src/carriers/audiosocket/frames.js';
import { AsteriskAudioSocket } from '../../doubles/asterisk-audiosocket.js';
import { LlmDouble } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { demoCall } from '../../helpers/media.js';
import { sine } from '../../helpers/signal.js';
import { SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';

const greeting = demoCall('greeting');
let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await vllm?.close();
  await receiver?.close();
  gateway = vllm = receiver = undefined;
});

async function start(env: Record<string, string> = {}): Promise<{ port: number; gw: Gateway }> {
  gateway = await startGateway({ AUDIOSOCKET_PORT: '0', AUDIOSOCKET_BIND: '127.0.0.1', ...env });
  return { port: gateway.edgePorts.audioSocket as number, gw: gateway };
}

const words = (utterances: { speaker: string; text: string }[], speaker: string) =>
  utterances
    .filter((u) => u.speaker === speaker)
    .map((u) => u.text)
    .join(' ');

describe('Asterisk AudioSocket', () => {
  it('one leg (the AudioSocket app): UUID, slin 8 kHz and a key press give a transcript and the webhooks a Twilio call gives', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    receiver = new TestReceiver();
    const { port, gw } = await start({
      VLLM_URL: vllm.url,
      WEBHOOK_URL: await receiver.listen(),
      WEBHOOK_SECRET: SECRET,
    });
    const asterisk = await AsteriskAudioSocket.connect(port);
    asterisk.sendUuid();
    const caller = mulawToPcm(greeting.caller);
    await asterisk.sendAudio(caller.subarray(0, 8000));
    asterisk.sendDtmf('5');
    await asterisk.sendAudio(caller.subarray(8000));
    await asterisk.hangUp();

    const callSid = asterisk.uuid;
    const transcript = await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 15_000);
    expect(words(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');

    const snapshot = await gw.call(callSid);
    expect(snapshot).toMatchObject({
      ingress: 'audiosocket',
      streamSid: callSid,
      accountSid: null,
      mode: 'transcribe',
      state: 'ended',
      endReason: 'hangup',
      dtmf: [{ digit: '5', atMs: 1000 }],
      legs: [{ label: 'caller', codec: 'l16', sampleRate: 8000, audioSeconds: caller.length / 8000 }],
    });
    expect(
      (await gw.get('/v1/calls?state=ended')).body.calls.map((c: { ingress: string }) => c.ingress),
    ).toEqual(['audiosocket']);

    const events = await eventually(() => {
      const types = receiver?.events.map((e) => e.type) ?? [];
      expect(types).toContain('call.ended');
      return receiver?.events ?? [];
    }, 10_000);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['call.started', 'dtmf', 'transcript.final', 'call.ended']),
    );
    expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({
      ingress: 'audiosocket',
      legs: [{ speaker: 'caller', track: 'inbound' }],
    });
    expect(events.find((e) => e.type === 'dtmf')?.data).toEqual({
      digit: '5',
      speaker: 'caller',
      atMs: 1000,
    });

    const metrics = (await gw.get('/metrics')).body as string;
    expect(metrics).toMatch(/voxline_ingress_calls_total\{ingress="audiosocket"\} 1/);
  });

  it('two legs (ARI snoop in and out): UUIDs ending 0 and 1 are one call, each leg transcribed on its own', async () => {
    vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
    await vllm.listen();
    const { port, gw } = await start({ VLLM_URL: vllm.url, AUDIOSOCKET_PAIR_LEGS: 'true' });
    const base = '6a1f2c3d-1111-4222-8333-94445555666';
    const spyIn = await AsteriskAudioSocket.connect(port, `${base}0`);
    const spyOut = await AsteriskAudioSocket.connect(port, `${base}1`);
    spyIn.sendUuid();
    spyOut.sendUuid();
    await Promise.all([
      spyIn.sendAudio(mulawToPcm(greeting.caller), 8000, 0x10, 2),
      spyOut.sendAudio(mulawToPcm(greeting.agent), 8000, 0x10, 2),
    ]);
    await Promise.all([spyIn.hangUp(), spyOut.hangUp()]);

    const callSid = `${base}0`;
    const transcript = await eventually(async () => {
      const { body } = await gw.get(`/v1/calls/${callSid}/transcript`);
      expect(body.complete).toBe(true);
      return body;
    }, 15_000);
    expect(words(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');
    expect(words(transcript.utterances, 'agent')).toBe('Hello world.');
    const snapshot = await gw.call(callSid);
    expect(snapshot.legs.map((l) => [l.label, l.audioSeconds])).toEqual([
      ['caller', greeting.caller.length / 8000],
      ['agent', greeting.agent.length / 8000],
    ]);
    expect((await gw.get('/v1/calls?state=all')).body.calls).toHaveLength(1);
  });

  it('the higher-rate kinds: slin16 (0x12) reaches the core untouched, slin48 (0x16) as 16 kHz of the same length', async () => {
    const { port, gw } = await start();
    const tone16 = sine(16_000, 16_000, 440, 6000);
    const a = await AsteriskAudioSocket.connect(port);
    a.sendUuid();
    await a.sendAudio(tone16, 16_000, 0x12);
    await a.hangUp();
    await eventually(() => expect(gw.tap.frames(a.uuid, 'caller').length).toBe(50));
    expect(gw.tap.pcm(a.uuid, 'caller')).toEqual(tone16);

    const b = await AsteriskAudioSocket.connect(port);
    b.sendUuid();
    await b.sendAudio(sine(48_000, 48_000, 440, 6000), 48_000, 0x16);
    await b.hangUp();
    await eventually(() => expect(gw.tap.pcm(b.uuid, 'caller').length).toBe(16_000));
    expect((await gw.call(b.uuid)).legs[0]).toMatchObject({ sampleRate: 48_000, audioSeconds: 1 });
  });

  it('a TCP stream cut anywhere is reassembled: frames split across writes lose nothing', async () => {
    const { port, gw } = await start();
    const a = await AsteriskAudioSocket.connect(port);
    const tone = sine(8000, 8000, 300, 6000);
    const bytes = Buffer.concat([
      encodeFrame(KIND.uuid, Buffer.from(a.uuid.replace(/-/g, ''), 'hex')),
      ...Array.from({ length: 50 }, (_, i) =>
        encodeFrame(0x10, Buffer.from(tone.buffer, tone.byteOffset + i * 320, 320)),
      ),
    ]);
    for (let at = 0; at < bytes.length; at += 7) {
      a.raw(bytes.subarray(at, at + 7));
      if (at % 700 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await a.hangUp();
    await eventually(() => expect(gw.tap.pcm(a.uuid, 'caller').length).toBe(16_000));
    expect((await gw.call(a.uuid)).legs[0].audioSeconds).toBe(1);
  });

  describe('bad input: a clear refusal, no crash, other calls unaffected', () => {
    it('a first frame that is not a UUID: hangup frame, connection closed, counted', async () => {
      const { port, gw } = await start();
      const good = await AsteriskAudioSocket.connect(port);
      good.sendUuid();
      await good.sendAudio(new Int16Array(1600));
      const bad = await AsteriskAudioSocket.connect(port);
      bad.raw(encodeFrame(0x10, Buffer.alloc(320)));
      await bad.closed;
      expect(bad.received.map((f) => f.kind)).toEqual([KIND.hangup]);
      await good.sendAudio(new Int16Array(1600));
      await good.hangUp();
      expect((await gw.call(good.uuid)).legs[0].audioSeconds).toBe(0.4);
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_malformed_messages_total\{reason="uuid_expected"\} 1/,
      );
    });

    it('unknown kinds and odd-length audio are counted on the call, which goes on', async () => {
      const { port, gw } = await start();
      const a = await AsteriskAudioSocket.connect(port);
      a.sendUuid();
      await a.sendAudio(new Int16Array(160));
      a.raw(encodeFrame(0x42, Buffer.from('??')));
      a.raw(encodeFrame(0x10, Buffer.alloc(321)));
      a.sendDtmf('x');
      await a.sendAudio(new Int16Array(160));
      await a.hangUp();
      const snapshot = await eventually(async () => {
        const s = await gw.call(a.uuid);
        expect(s.state).toBe('ended');
        return s;
      });
      expect(snapshot.malformedMessages.byReason).toEqual({
        unknown_kind: 1,
        odd_audio_length: 1,
        bad_dtmf: 1,
      });
      expect(snapshot.legs[0].audioSeconds).toBe(0.06);
    });

    it('a source outside AUDIOSOCKET_ALLOW is hung up on before it can send anything', async () => {
      const { port, gw } = await start({ AUDIOSOCKET_ALLOW: '10.0.0.0/8' });
      const a = await AsteriskAudioSocket.connect(port);
      await a.closed;
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_ingress_refused_total\{ingress="audiosocket",reason="source_not_allowed"\} 1/,
      );
      expect((await gw.get('/v1/calls?state=all')).body.calls).toEqual([]);
    });

    it('beyond MAX_LIVE_CALLS: the extra call gets a hangup frame; the live one carries on', async () => {
      const { port, gw } = await start({ MAX_LIVE_CALLS: '1' });
      const first = await AsteriskAudioSocket.connect(port);
      first.sendUuid();
      await first.sendAudio(new Int16Array(160));
      await eventually(() => expect(gw.app.registry.liveCount).toBe(1));
      const second = await AsteriskAudioSocket.connect(port);
      second.sendUuid();
      await second.sendAudio(new Int16Array(160));
      await second.closed;
      expect(second.received.map((f) => f.kind)).toEqual([KIND.hangup]);
      await first.sendAudio(new Int16Array(160));
      await first.hangUp();
      expect((await gw.call(first.uuid)).legs[0].audioSeconds).toBe(0.04);
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_ingress_refused_total\{ingress="audiosocket",reason="VL_ERR_CAPACITY"\} 1/,
      );
    });

    it('a connection that never sends its UUID is closed after the handshake timeout', async () => {
      const { port } = await start({ HANDSHAKE_TIMEOUT_MS: '200' });
      const a = await AsteriskAudioSocket.connect(port);
      await a.closed;
      expect(a.received.map((f) => f.kind)).toEqual([KIND.hangup]);
    });
  });

  it(
    'agent mode: the greeting comes back as 20 ms slin frames at real-time pace, and end_call sends a hangup frame',
    { timeout: 30_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      const llm = new LlmDouble(() => ({
        text: 'Goodbye.',
        toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }],
      }));
      await llm.listen();
      try {
        const { port, gw } = await start({
          VLLM_URL: vllm.url,
          LLM_BASE_URL: llm.url,
          LLM_API_KEY: 'sk-test',
          AGENT_GREETING: 'Hello, this is voxline.',
          AUDIOSOCKET_MODE: 'agent',
        });
        const asterisk = await AsteriskAudioSocket.connect(port);
        asterisk.sendUuid();
        // Asterisk sends 20 ms frames all call long: the caller's sentence, then silence.
        const caller = mulawToPcm(greeting.caller);
        const t0 = performance.now();
        for (let k = 0; k < 1000 && !asterisk.received.some((f) => f.kind === KIND.hangup); k++) {
          const frame =
            k * 160 < caller.length ? caller.subarray(k * 160, k * 160 + 160) : new Int16Array(160);
          await asterisk.sendAudio(frame);
          await new Promise((resolve) =>
            setTimeout(resolve, Math.max(0, t0 + (k + 1) * 20 - performance.now())),
          );
        }
        await asterisk.closed;
        const audio = asterisk.received
          .map((f, i) => ({ ...f, at: asterisk.receivedAt[i] }))
          .filter((f) => f.kind === 0x10);
        expect(asterisk.received.at(-1)?.kind).toBe(KIND.hangup);
        expect(audio.length).toBeGreaterThan(50);
        expect(audio.every((f) => f.payload.length === 320)).toBe(true);
        expect(audio.at(-1)!.at - audio[0].at).toBeGreaterThan((audio.length - 1) * 20 * 0.8); // paced, not a burst
        const snapshot = await gw.call(asterisk.uuid);
        expect(snapshot).toMatchObject({ mode: 'agent', bidirectional: true, endReason: 'agent_end_call' });
        const transcript = (await gw.get(`/v1/calls/${asterisk.uuid}/transcript`)).body;
        expect(transcript.utterances.map((u: { speaker: string }) => u.speaker)).toEqual(
          expect.arrayContaining(['agent', 'caller']),
        );
      } finally {
        await llm.close();
      }
    },
  );
});

describe('AudioSocket connections are bounded', () => {
  it('beyond AUDIOSOCKET_MAX_PER_SOURCE (or _MAX_CONNECTIONS) a connection is closed at accept and counted; those held go on', async () => {
    const { port, gw } = await start({ AUDIOSOCKET_MAX_PER_SOURCE: '2' });
    const sockets = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        return socket;
      }),
    );
    await eventually(() => expect(sockets.filter((s) => s.destroyed || s.readableEnded)).toHaveLength(3));
    const metrics = (await gw.get('/metrics')).body as string;
    expect(metrics).toMatch(
      /voxline_ingress_refused_total\{ingress="audiosocket",reason="tcp_too_many_from_source"\} 3/,
    );
    for (const socket of sockets) socket.destroy();
    // The slots come back: a real call connects again.
    await eventually(() => expect(gw.app.edges.audioSocket?.connections).toBe(0));
    const asterisk = await AsteriskAudioSocket.connect(port);
    asterisk.sendUuid();
    await asterisk.sendAudio(new Int16Array(160));
    await asterisk.hangUp();
    await eventually(async () => expect((await gw.get('/v1/calls?state=ended')).body.calls).toHaveLength(1));
  });
});
