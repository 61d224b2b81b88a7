import { afterEach, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, freePort, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

const greeting = demoCall('greeting');
const support = demoCall('support-call');
const reference = new ReferenceAudio([greeting, support]);
let vllm: VllmRealtimeDouble | undefined;
let gateway: Gateway | undefined;

afterEach(async () => {
  await gateway?.close();
  await vllm?.close();
  gateway = undefined;
  vllm = undefined;
});

async function startDouble(options: { model?: string; port?: number } = {}): Promise<VllmRealtimeDouble> {
  vllm = new VllmRealtimeDouble({ reference, model: options.model });
  await vllm.listen(options.port);
  return vllm;
}

// biome-ignore lint/suspicious/noExplicitAny: transcript JSON, checked by the assertions.
async function completeTranscript(callSid: string, timeoutMs = 15_000): Promise<any> {
  return eventually(async () => {
    const { body } = await (gateway as Gateway).get(`/v1/calls/${callSid}/transcript`);
    expect(body.complete).toBe(true);
    return body;
  }, timeoutMs);
}

// biome-ignore lint/suspicious/noExplicitAny: transcript JSON.
function words(transcript: any, speaker: string): string[] {
  return transcript.utterances
    .filter((u: { speaker: string }) => u.speaker === speaker)
    .flatMap((u: { words: { word: string }[] }) => u.words.map((w) => w.word));
}

function expected(speaker: 'caller' | 'agent', call = greeting): string[] {
  return call.words.filter((w) => w.leg === speaker).map((w) => w.word);
}

async function metric(name: string): Promise<number> {
  const { body } = await (gateway as Gateway).get('/metrics');
  let total = 0;
  for (const line of String(body).split('\n')) {
    if (line.startsWith(name)) total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('vLLM faults: nothing is lost, and what cannot be saved is said', () => {
  it('server killed mid-utterance: reconnects, re-sends the utterance, every word arrives, final marked recovered', async () => {
    const double = await startDouble();
    gateway = await startGateway({ VLLM_URL: double.url });
    double.killAfterAppends(15); // 80 ms appends (ASR_APPEND_MS): the agent is saying "Hello world."
    const result = await playDemo(gateway, 'greeting', { pace: 'realtime' });
    const transcript = await completeTranscript(result.callSid);

    expect(words(transcript, 'agent')).toEqual(expected('agent'));
    expect(words(transcript, 'caller')).toEqual(expected('caller'));
    expect(transcript.utterances.find((u: { speaker: string }) => u.speaker === 'agent').recovered).toBe(
      true,
    );
    expect(double.sessionsOpened).toBeGreaterThanOrEqual(4);
    expect(await metric('voxline_asr_reconnects_total')).toBeGreaterThanOrEqual(1);
    expect(await metric('voxline_asr_audio_dropped_ms_total')).toBe(0);
  }, 30_000);

  it('processing_error from the server: surfaced as an event, the utterance retried once and transcribed', async () => {
    const double = await startDouble();
    double.failNextUtterance();
    gateway = await startGateway({ VLLM_URL: double.url });
    const result = await playDemo(gateway, 'greeting', { pace: 'realtime' });
    const transcript = await completeTranscript(result.callSid);

    expect(transcript.errors).toEqual([
      expect.objectContaining({ code: 'engine_error', message: expect.stringContaining('processing_error') }),
    ]);
    expect(words(transcript, 'agent')).toEqual(expected('agent'));
    expect(words(transcript, 'caller')).toEqual(expected('caller'));
  }, 30_000);

  it('server unreachable at call start: the call proceeds, audio waits, and is transcribed once it comes up', async () => {
    // A port nothing listens on until the double starts there (so the engine is down at first).
    const port = await freePort();
    gateway = await startGateway({ VLLM_URL: `http://127.0.0.1:${port}` });
    const g = gateway;
    const playing = playDemo(g, 'greeting', { pace: 'realtime' });
    // Once the gateway has found the server down and is backing off, the server comes up.
    await eventually(
      () => expect(g.logs.some((l) => l.msg === 'speech engine connection lost: reconnecting')).toBe(true),
      10_000,
    );
    await startDouble({ port });
    const result = await playing;
    const transcript = await completeTranscript(result.callSid);

    expect(words(transcript, 'agent')).toEqual(expected('agent'));
    expect(words(transcript, 'caller')).toEqual(expected('caller'));
    expect(transcript.errors).toEqual([]);
  }, 30_000);

  it('server unreachable beyond the buffer bound: a clear engine_unavailable event, the loss counted, the call unharmed', async () => {
    const port = await freePort();
    gateway = await startGateway({
      VLLM_URL: `http://127.0.0.1:${port}`,
      UTTERANCE_MAX_MS: '1000',
      ASR_BUFFER_MS: '6000',
      ASR_DONE_TIMEOUT_MS: '500',
      VAD_ENABLED: 'false', // all 23 s of each leg wait for the engine
    });
    const result = await playDemo(gateway, 'support-call');
    expect(result.closeCode).toBe(1000);
    const transcript = await completeTranscript(result.callSid);

    expect(transcript.utterances).toEqual([]);
    const unavailable = transcript.errors.filter((e: { code: string }) => e.code === 'engine_unavailable');
    expect(unavailable.map((e: { speaker: string }) => e.speaker).sort()).toEqual(['agent', 'caller']);
    expect(unavailable[0].message).toMatch(/has not taken this leg's audio for over 6000 ms/);
    expect(
      await metric(
        'voxline_asr_audio_dropped_ms_total{engine="vllm",track="inbound",reason="engine_unavailable"}',
      ),
    ).toBeGreaterThan(0);
    const call = await gateway.call(result.callSid);
    expect(call.endReason).toBe('stop');
  }, 30_000);

  it('wrong model name: /readyz says which model is served, and the first call gets a model_not_found event', async () => {
    const double = await startDouble({ model: 'voxtral-served-under-another-name' });
    gateway = await startGateway({ VLLM_URL: double.url });
    const ready = await gateway.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.endpoints[0]).toMatchObject({
      state: 'wrong_model',
      detail: expect.stringContaining(
        'model "mistralai/Voxtral-Mini-4B-Realtime-2602" is not served at http://127.0.0.1',
      ),
    });
    expect(ready.body.endpoints[0].detail).toContain('it serves: voxtral-served-under-another-name');

    const result = await playDemo(gateway, 'greeting');
    const transcript = await completeTranscript(result.callSid);
    expect(transcript.errors[0]).toMatchObject({
      code: 'model_not_found',
      message: expect.stringContaining('Set VLLM_MODEL'),
    });
  }, 30_000);

  it('/readyz is 200 with the endpoint up when the model is served', async () => {
    const double = await startDouble();
    gateway = await startGateway({ VLLM_URL: double.url });
    const ready = await gateway.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ engine: 'vllm', ready: true, endpoints: [{ state: 'up' }] });
  });

  it('shutdown mid-utterance: the drain waits for the open utterance’s final before the server closes', async () => {
    const double = await startDouble();
    gateway = await startGateway({ VLLM_URL: double.url, SHUTDOWN_DRAIN_MS: '0' });
    const g = gateway;
    const playing = playDemo(g, 'greeting', { pace: 'realtime' }).catch(() => undefined);
    const call = await eventually(() => {
      const [live] = g.app.registry.live();
      expect(live).toBeDefined();
      return live;
    });
    // The caller is mid-sentence: a partial of their utterance has come back, its final has not.
    let callerPartial = false;
    call.transcript.subscribe((event) => {
      if (event.type === 'partial' && event.leg === 'caller' && event.text) callerPartial = true;
    });
    await eventually(() => expect(callerPartial).toBe(true), 10_000);
    expect(call.transcript.snapshot().utterances.filter((u) => u.speaker === 'caller')).toEqual([]);
    await g.app.server.close();
    gateway = undefined;
    await playing;

    const transcript = call.transcript.snapshot();
    expect(transcript.complete).toBe(true);
    const caller = transcript.utterances.filter((u) => u.speaker === 'caller');
    expect(caller).toHaveLength(1);
    expect(caller[0].text).toMatch(/^he was not/);
    expect(transcript.utterances.find((u) => u.speaker === 'agent')?.text).toBe('Hello world.');
  }, 30_000);
});
