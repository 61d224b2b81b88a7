import { afterEach, describe, expect, it } from 'vitest';
import { BrowserCaller } from '../doubles/browser-caller.js';
import { LlmDouble } from '../doubles/llm-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, mulawAs16k, pcm16Channel } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

const TOKEN = 'pause-admin-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const greeting = demoCall('greeting');
const SCRIPT = ['before the payment', 'after the payment'];

let gateway: Gateway | undefined;
let vllm: VllmRealtimeDouble | undefined;
let receiver: TestReceiver | undefined;

afterEach(async () => {
  await gateway?.close();
  await Promise.all([vllm?.close(), receiver?.close()]);
  gateway = vllm = receiver = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: the answers' JSON is checked field by field below.
const post = (gw: Gateway, path: string): Promise<{ status: number; body: any }> =>
  fetch(`${gw.baseUrl}${path}`, { method: 'POST', headers: BEARER }).then(async (r) => ({
    status: r.status,
    body: await r.json(),
  }));

describe('pause and resume (secure mode for payments)', () => {
  it(
    'a paused span is silence in the recording and absent from the transcript; key presses in it are *',
    { timeout: 60_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]), script: SCRIPT });
      await vllm.listen();
      receiver = new TestReceiver();
      gateway = await startGateway({
        ADMIN_TOKEN: TOKEN,
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        RECORDING_FORMAT: 'pcm16',
      });
      const gw = gateway;
      const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
      const { callSid } = await page.start({ mode: 'transcribe', channels: 1 });
      // Speech, then a second of silence, three times; paused over the second time, in real time.
      const speech = mulawAs16k(greeting.caller).subarray(16_000 * 1.9, 16_000 * 4.9);
      const part = new Int16Array(speech.length + 16_000);
      part.set(speech);
      await page.sendPcmPaced(part, 1);
      const paused = await post(gw, `/v1/calls/${callSid}/pause`);
      expect(paused).toMatchObject({ status: 200, body: { paused: true, changed: true } });
      expect((await post(gw, `/v1/calls/${callSid}/pause`)).body.changed).toBe(false);
      page.sendJson({ type: 'dtmf', digit: '4' });
      await page.sendPcmPaced(part, 1);
      const resumed = await post(gw, `/v1/calls/${callSid}/resume`);
      expect(resumed).toMatchObject({ status: 200, body: { paused: false, changed: true } });
      await page.sendPcmPaced(part, 1);
      page.hangUp();
      await page.closed;

      const transcript = await eventually(async () => {
        const { body } = await gw.get(`/v1/calls/${callSid}/transcript`, BEARER);
        expect(body.complete).toBe(true);
        return body;
      }, 15_000);
      // The engine heard two utterances: nothing of the paused one reached it.
      expect(transcript.utterances.map((u: { text: string }) => u.text)).toEqual(SCRIPT);
      expect(vllm.utterances).toEqual(SCRIPT);

      const [pause] = resumed.body.pauses as { startMs: number; endMs: number; by: string }[];
      expect(pause.by).toBe('api');
      expect(pause.endMs - pause.startMs).toBeGreaterThan(3_000);
      const events = await eventually(() => {
        const list = receiver?.events.filter((e) => e.callSid === callSid) ?? [];
        expect(list.map((e) => e.type)).toContain('call.ended');
        return list;
      }, 15_000);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);
      expect(events.find((e) => e.type === 'recording.paused')?.data).toEqual({
        atMs: pause.startMs,
        by: 'api',
      });
      expect(events.find((e) => e.type === 'recording.resumed')?.data).toEqual({
        atMs: pause.endMs,
        by: 'api',
      });
      expect(events.find((e) => e.type === 'call.ended')?.data.pauses).toEqual([pause]);
      expect(events.find((e) => e.type === 'dtmf')?.data.digit).toBe('*');

      // The recording: silence over the pause (a frame's margin at each end), speech on either side.
      const wav = await eventually(async () => {
        const response = await fetch(`${gw.baseUrl}/v1/calls/${callSid}/recording`, { headers: BEARER });
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }, 10_000);
      const caller = pcm16Channel(wav);
      const at = (ms: number) => Math.round(ms * 16);
      const inside = caller.subarray(at(pause.startMs + 40), at(pause.endMs - 40));
      expect(inside.length).toBeGreaterThan(16_000 * 3);
      expect(inside.every((s) => s === 0)).toBe(true);
      const loud = (pcm: Int16Array) => pcm.some((s) => Math.abs(s) > 1000);
      expect(loud(caller.subarray(0, at(pause.startMs)))).toBe(true);
      expect(loud(caller.subarray(at(pause.endMs)))).toBe(true);
    },
  );

  it('a call can start paused (its paused parameter); resuming an unknown call is 404', async () => {
    gateway = await startGateway({ ADMIN_TOKEN: TOKEN });
    const page = await BrowserCaller.connect(gateway.baseUrl, { bearer: TOKEN });
    const { callSid } = await page.start({ mode: 'transcribe', channels: 1, parameters: { paused: 'true' } });
    const snapshot = (await gateway.get(`/v1/calls/${callSid}`, BEARER)).body;
    expect(snapshot.pauses).toEqual([{ startMs: expect.any(Number), endMs: null, by: 'parameter' }]);
    expect(snapshot.pauses[0].startMs).toBeLessThan(100); // from the call's first moment
    expect((await post(gateway, `/v1/calls/${callSid}/resume`)).body).toMatchObject({
      paused: false,
      changed: true,
    });
    expect((await post(gateway, '/v1/calls/CAnot-a-call/resume')).status).toBe(404);
    page.hangUp();
    await page.closed;
  });

  it(
    'with AGENT_PAUSE_TOOLS the voice agent pauses the call itself before taking card details',
    { timeout: 40_000 },
    async () => {
      vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greeting]) });
      await vllm.listen();
      let turn = 0;
      const llm = new LlmDouble(() =>
        ++turn === 1
          ? {
              text: 'I will pause the recording now.',
              toolCalls: [{ name: 'pause_recording', arguments: {} }],
            }
          : { text: 'Please read out your card number.' },
      );
      await llm.listen();
      try {
        gateway = await startGateway({
          ADMIN_TOKEN: TOKEN,
          VLLM_URL: vllm.url,
          LLM_BASE_URL: llm.url,
          LLM_API_KEY: 'sk-test',
          AGENT_GREETING: 'Hello.',
          AGENT_PAUSE_TOOLS: 'true',
        });
        const gw = gateway;
        const page = await BrowserCaller.connect(gw.baseUrl, { bearer: TOKEN });
        const { callSid } = await page.start({ mode: 'agent', channels: 1 });
        const caller = mulawAs16k(greeting.caller);
        const audio = new Int16Array(caller.length + 16_000 * 10);
        audio.set(caller);
        const paused = async () =>
          ((await gw.get(`/v1/calls/${callSid}`, BEARER)).body.pauses ?? []).length > 0;
        let done = false;
        const sending = page.sendPcmPaced(audio, 1, { until: () => done });
        await eventually(async () => expect(await paused()).toBe(true), 20_000);
        done = true;
        await sending;
        const snapshot = (await gw.get(`/v1/calls/${callSid}`, BEARER)).body;
        expect(snapshot.pauses).toEqual([{ startMs: expect.any(Number), endMs: null, by: 'agent' }]);
        // The model was offered both tools and told the pause took effect.
        expect(llm.requests[0].tools?.map((t: { function: { name: string } }) => t.function.name)).toEqual(
          expect.arrayContaining(['pause_recording', 'resume_recording']),
        );
        await eventually(() =>
          expect(JSON.stringify(llm.requests.at(-1)?.messages)).toContain('Recording paused.'),
        );
        page.hangUp();
        await page.closed;
      } finally {
        await llm.close();
      }
    },
  );
});
