import { afterEach, describe, expect, it } from 'vitest';
import { BrowserCaller, signIn } from '../../doubles/browser-caller.js';
import { LlmDouble } from '../../doubles/llm-double.js';
import { ReferenceAudio } from '../../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../../helpers/gateway.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { demoCall, mulawAs16k, padded } from '../../helpers/media.js';
import { sine } from '../../helpers/signal.js';
import { SECRET, schemaValidator, TestReceiver } from '../../helpers/webhooks.js';

const TOKEN = 'browser-admin-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const greeting = demoCall('greeting');

let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;
let llm: LlmDouble | undefined;

afterEach(async () => {
  await gateway?.close();
  await Promise.all([vllm?.close(), receiver?.close(), llm?.close()]);
  gateway = vllm = receiver = llm = undefined;
});

async function start(env: Record<string, string> = {}, clock?: ManualClock): Promise<Gateway> {
  gateway = await startGateway({ ADMIN_TOKEN: TOKEN, ...env }, [], clock ? { clock } : {});
  return gateway;
}

function interleave(left: Int16Array, right: Int16Array): Int16Array {
  const n = Math.max(left.length, right.length);
  const out = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[2 * i] = left[i] ?? 0;
    out[2 * i + 1] = right[i] ?? 0;
  }
  return out;
}

const words = (utterances: { speaker: string; text: string }[], speaker: string) =>
  utterances
    .filter((u) => u.speaker === speaker)
    .map((u) => u.text)
    .join(' ');

/** A gateway whose voice agent says `greeting`, then answers the caller's first turn with end_call. */
async function startAgent(agentGreeting: string): Promise<Gateway> {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
  await vllm.listen();
  llm = new LlmDouble(() => ({
    text: 'Goodbye.',
    toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }],
  }));
  await llm.listen();
  return start({
    VLLM_URL: vllm.url,
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: 'sk-test',
    AGENT_GREETING: agentGreeting,
  });
}

async function finishedTranscript(gw: Gateway, callSid: string) {
  return eventually(async () => {
    const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, BEARER);
    expect(body.complete).toBe(true);
    return body;
  }, 15_000);
}

describe('calls from the browser (GET /browser/call)', () => {
  it(
    'a signed-in page: the microphone leg is recorded sample for sample, transcribed, and sent to webhooks like a carrier call',
    { timeout: 30_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      receiver = new TestReceiver();
      const gw = await start({
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
      });
      const cookie = await signIn(gw.baseUrl, TOKEN);
      const page = await BrowserCaller.connect(gw.baseUrl, { cookie, origin: gw.baseUrl });
      const started = await page.start({ mode: 'transcribe', channels: 1, name: 'microphone' });
      expect(started).toMatchObject({ type: 'started', legs: ['caller'], mode: 'transcribe' });
      const callSid = started.callSid as string;
      expect(callSid).toMatch(/^BR[0-9a-f]{32}$/);

      const caller = mulawAs16k(greeting.caller);
      // As a page sends the microphone: 20 ms messages in real time (here half a second ahead, to be quick).
      await page.sendPcmPaced(caller.subarray(0, 16_000), 1, { leadMs: 500 });
      page.sendJson({ type: 'dtmf', digit: '7' });
      await page.sendPcmPaced(caller.subarray(16_000), 1, { leadMs: 500 });
      page.hangUp();
      expect(await page.next((m) => m.type === 'ended')).toEqual({ type: 'ended', reason: 'hangup' });
      expect((await page.closed).code).toBe(1000);

      const transcript = await finishedTranscript(gw, callSid);
      expect(gw.tap.pcm(callSid, 'caller')).toEqual(caller);
      expect(words(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({
        ingress: 'browser',
        mode: 'transcribe',
        state: 'ended',
        endReason: 'hangup',
        participants: [{ role: 'caller', name: 'microphone' }],
        dtmf: [{ digit: '7', atMs: 1000 }],
        legs: [{ label: 'caller', codec: 'l16', sampleRate: 16_000, audioSeconds: caller.length / 16_000 }],
      });

      const events = await eventually(() => {
        const list = receiver?.events.filter((e) => e.callSid === callSid) ?? [];
        expect(list.map((e) => e.type)).toContain('call.ended');
        return list;
      }, 10_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['call.started', 'dtmf', 'transcript.final', 'call.ended']),
      );
      expect(events.find((e) => e.type === 'call.started')?.data).toMatchObject({ ingress: 'browser' });
      expect((await gw.get('/metrics')).body).toMatch(/voxline_ingress_calls_total\{ingress="browser"\} 1/);
      // The recording is there, as for any call.
      await eventually(async () =>
        expect((await gw.get(`/v1/calls/${callSid}/recording`, BEARER)).status).toBe(200),
      );
    },
  );

  it(
    'a stereo file: caller left, agent right, each leg exact and transcribed on its own',
    { timeout: 30_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      const gw = await start({ VLLM_URL: vllm.url });
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const started = await page.start({ mode: 'transcribe', channels: 2, name: 'greeting.wav' });
      expect(started).toMatchObject({ legs: ['caller', 'agent'] });
      const caller = mulawAs16k(greeting.caller);
      const agent = mulawAs16k(greeting.agent);
      await page.sendPcmPaced(interleave(caller, agent), 2, { leadMs: 1500 });
      page.hangUp();
      await page.closed;
      const callSid = started.callSid as string;
      const transcript = await finishedTranscript(gw, callSid);
      expect(words(transcript.utterances, 'caller')).toBe('he was not an ill disposed young man');
      expect(words(transcript.utterances, 'agent')).toBe('Hello world.');
      const n = Math.max(caller.length, agent.length);
      expect(gw.tap.pcm(callSid, 'caller')).toEqual(padded(caller, n));
      expect(gw.tap.pcm(callSid, 'agent')).toEqual(padded(agent, n));
    },
  );

  describe('who may call', () => {
    it('no session, a session from another site, a wrong token: 401 before any socket; the admin token as a bearer is let in', async () => {
      const gw = await start();
      const cookie = await signIn(gw.baseUrl, TOKEN);
      for (const auth of [
        {},
        { cookie },
        { cookie, origin: 'https://evil.example' },
        { bearer: 'not-the-admin-token-000000' },
        { cookie: 'voxline_session=1.2.3', origin: gw.baseUrl },
      ]) {
        const page = await BrowserCaller.connect(gw.baseUrl, auth);
        expect(await page.closed).toMatchObject({ httpStatus: 401 });
      }
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      expect(await page.start({ mode: 'transcribe', channels: 1 })).toMatchObject({ type: 'started' });
      page.hangUp();
      await page.closed;
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_ingress_refused_total\{ingress="browser",reason="unauthorized"\} 5/,
      );
    });

    it('without ADMIN_TOKEN, or with BROWSER_CALLS=false, there is no such route (and the console offers no call)', async () => {
      for (const env of [{ ADMIN_TOKEN: undefined }, { BROWSER_CALLS: 'false' }]) {
        const gw = await startGateway({ ADMIN_TOKEN: TOKEN, ...env } as Record<string, string>);
        try {
          const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
          expect(await page.closed).toMatchObject({ httpStatus: 404 });
        } finally {
          await gw.close();
        }
      }
    });

    it('beyond MAX_LIVE_CALLS the upgrade is refused with 503; the live call goes on', async () => {
      const gw = await start({ MAX_LIVE_CALLS: '1' });
      const first = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      await first.start({ mode: 'transcribe', channels: 1 });
      const second = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      expect(await second.closed).toMatchObject({ httpStatus: 503 });
      first.sendPcm(new Int16Array(1600));
      first.hangUp();
      await first.closed;
      const [call] = (await gw.get('/v1/calls?state=ended', BEARER)).body.calls;
      expect(call).toMatchObject({ ingress: 'browser' });
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_ingress_refused_total\{ingress="browser",reason="VL_ERR_CAPACITY"\} 1/,
      );
    });
  });

  describe('bad input: a clear answer, the call (or the refusal) contained', () => {
    it('a bad start gets an error message and 1008; no call is opened', async () => {
      const gw = await start();
      for (const [start, detail] of [
        [{ mode: 'agent', channels: 2 }, /agent mode takes one channel/],
        [{ mode: 'transcribe', channels: 3 }, /channels must be 1 or 2/],
        [{ mode: 'transcribe', channels: 1, sampleRate: 48_000 }, /sampleRate must be 16000/],
        [{ mode: 'listen', channels: 1 }, /mode must be/],
        [{ mode: 'transcribe', channels: 1, parameters: { 'bad name': 'x' } }, /parameters/],
      ] as const) {
        const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
        const answer = await page.start(start as never);
        expect(answer).toMatchObject({
          type: 'error',
          code: 'VL_ERR_BAD_REQUEST',
          message: expect.stringMatching(detail),
        });
        expect((await page.closed).code).toBe(1008);
      }
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      page.sendRaw(Buffer.alloc(640), true);
      expect(await page.next((m) => m.type === 'error')).toMatchObject({
        message: 'audio before the start message',
      });
      expect((await gw.get('/v1/calls?state=all', BEARER)).body.calls).toEqual([]);
    });

    it('after a refusal or a hang-up, what the page still sends before its close is dropped: no call opens, the ended call takes nothing', async () => {
      const gw = await start();
      const refused = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      // Sent together: the good start arrives after the refusal, before the page has read it.
      refused.sendJson({ type: 'start', mode: 'transcribe', channels: 3, sampleRate: 16_000 });
      refused.sendJson({ type: 'start', mode: 'transcribe', channels: 1, sampleRate: 16_000 });
      refused.sendPcm(new Int16Array(320));
      expect((await refused.closed).code).toBe(1008);
      expect(refused.messages.map((m) => m.type)).toEqual(['error']);

      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1 });
      page.sendPcm(new Int16Array(320));
      page.hangUp();
      for (const digit of ['1', '2', '3']) page.sendJson({ type: 'dtmf', digit });
      page.sendPcm(new Int16Array(3200));
      await page.closed;
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({ state: 'ended', endReason: 'hangup', dtmf: [] });
      expect(snapshot.legs[0].audioSeconds).toBe(0.02);
      expect((await gw.get('/v1/calls?state=all', BEARER)).body.calls).toHaveLength(1);
    });

    it('odd-length audio, unknown messages and a bad key are counted on the call, which goes on; too many end it with 1008', async () => {
      const gw = await start({ MAX_MALFORMED_PER_CALL: '6' });
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1, parameters: { crm: 'A-17' } });
      page.sendPcm(new Int16Array(320));
      page.sendRaw(Buffer.alloc(641), true);
      page.sendRaw('{"type":"wave"}', false);
      page.sendRaw('not json', false);
      page.sendJson({ type: 'dtmf', digit: '55' });
      page.sendRaw(Buffer.alloc(32_002 * 2), true); // over a second in one message
      page.sendPcm(new Int16Array(320));
      await eventually(async () => {
        const s = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
        expect(s.malformedMessages.byReason).toEqual({
          partial_sample_frame: 1,
          unknown_type: 1,
          invalid_json: 1,
          bad_dtmf: 1,
          audio_too_long: 1,
        });
      });
      expect(page.open).toBe(true);
      page.sendRaw('{}', false);
      expect(await page.next((m) => m.type === 'ended')).toMatchObject({
        reason: 'too many malformed messages (6)',
      });
      expect((await page.closed).code).toBe(1008);
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({ state: 'ended', endReason: 'protocol_error', closeCode: 1008 });
      expect(snapshot.legs[0].audioSeconds).toBe(0.04);
      expect(snapshot.customParameters ?? snapshot.parameters).toMatchObject({ crm: 'A-17' });
    });

    it('a page that never sends start is closed at the handshake timeout (on the injected clock)', async () => {
      const clock = new ManualClock();
      const gw = await start({ HANDSHAKE_TIMEOUT_MS: '5000' }, clock);
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      await clock.advance(4999);
      expect(page.open).toBe(true);
      await clock.advance(1);
      expect(await page.next((m) => m.type === 'error')).toMatchObject({
        message: 'no start message within 5000 ms',
      });
      expect((await page.closed).code).toBe(1008);
    });

    it('audio faster than real time: up to 2 s ahead is kept, the excess dropped and counted', async () => {
      const clock = new ManualClock();
      const gw = await start({}, clock);
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1 });
      const tone = sine(16_000 * 3, 16_000, 440, 6000);
      page.sendPcm(tone, 1, 500); // 3 s at once, at t = 0
      await eventually(() => expect(gw.tap.pcm(callSid as string, 'caller').length).toBe(32_000));
      await clock.advance(1000);
      page.sendPcm(tone.subarray(0, 16_000), 1, 500); // now 1 s more fits
      page.hangUp();
      await page.closed;
      const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
      expect(snapshot.legs[0].audioSeconds).toBe(3);
      expect(gw.logs).toContainEqual(
        expect.objectContaining({
          msg: 'audio sent ahead of real time was dropped',
          droppedAheadMs: 1000,
          receivedMs: 3000,
        }),
      );
      expect((await gw.get('/metrics')).body).toMatch(
        /voxline_ingress_refused_total\{ingress="browser",reason="ahead_of_real_time"\} 2/,
      );
    });
  });

  it(
    'agent mode: the greeting comes back as paced 20 ms binary frames, and end_call ends the call with `ended`',
    { timeout: 30_000 },
    async () => {
      const gw = await startAgent('Hello, this is voxline.');
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const started = await page.start({ mode: 'agent', channels: 1 });
      expect(started).toMatchObject({ mode: 'agent', legs: ['caller'] });
      const caller = mulawAs16k(greeting.caller);
      const callerAndSilence = new Int16Array(caller.length + 16_000 * 20);
      callerAndSilence.set(caller);
      await page.sendPcmPaced(callerAndSilence, 1, {
        until: () => page.messages.some((m) => m.type === 'ended'),
      });
      expect(await page.next((m) => m.type === 'ended')).toEqual({
        type: 'ended',
        reason: 'agent ended the call',
      });
      await page.closed;
      expect(page.audio.length).toBeGreaterThan(50);
      expect(page.audio.every((a) => a.bytes.length === 640)).toBe(true);
      const span = page.audio.at(-1)!.atMs - page.audio[0].atMs;
      expect(span).toBeGreaterThan((page.audio.length - 1) * 20 * 0.8); // paced, not a burst
      const snapshot = (await gw.get(`/v1/calls/${started.callSid}`, BEARER)).body;
      expect(snapshot).toMatchObject({
        ingress: 'browser',
        mode: 'agent',
        bidirectional: true,
        endReason: 'agent_end_call',
      });
    },
  );

  it(
    'barge-in: caller speech over the agent sends `clear` (the page drops its queue) and the agent turn is cut',
    { timeout: 40_000 },
    async () => {
      const gw = await startAgent(
        'Hello, this is voxline. I can help with your account, your bill, your order, or anything else you need today.',
      );
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const started = await page.start({ mode: 'agent', channels: 1 });
      // The caller waits 1.5 s into the greeting, then talks over it.
      const caller = mulawAs16k(greeting.caller);
      const audio = new Int16Array(24_000 + caller.length + 16_000 * 20);
      audio.set(caller, 24_000);
      await page.sendPcmPaced(audio, 1, { until: () => page.messages.some((m) => m.type === 'ended') });
      await page.closed;
      expect(page.clearsAt.length).toBeGreaterThanOrEqual(1);
      const atClear = page.clearsAt[0];
      // Playback was under way when the caller spoke: more than the 1.5 s of silence had been sent.
      expect(atClear * 20).toBeGreaterThan(1500);
      const transcript = await finishedTranscript(gw, started.callSid as string);
      const cut = transcript.utterances.find(
        (u: { speaker: string; interrupted?: boolean }) => u.speaker === 'agent' && u.interrupted,
      );
      expect(cut?.text.length).toBeGreaterThan(0);
      expect(cut?.text.length).toBeLessThan(80);
      const snapshot = (await gw.get(`/v1/calls/${started.callSid}`, BEARER)).body;
      expect(snapshot.agent.bargeIns).toHaveLength(1);
    },
  );
});
