import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { SentenceSplitter } from '../../src/agent/sentence-splitter.js';
import { FliteTts } from '../../src/agent/tts/flite-tts.js';
import { Downsampler16to8 } from '../../src/audio/downsampler.js';
import { type SimulatedCallResult, simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { type ChatRequest, LlmDouble, type ScriptedReply } from '../doubles/llm-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { TwilioRestDouble } from '../doubles/twilio-rest-double.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

const ACCOUNT_SID = `AC${'0'.repeat(31)}1`;
const GREETING = 'Hello. How can I help?';
const SHORT = 'I see. Go on.';
const LONG =
  'Let me explain how refunds work here. A refund takes five business days to reach your account. ' +
  'You will get an email when it is sent. If you paid by card, the money goes back to that card. ' +
  'If you paid by bank transfer, we will need your account details.';

/** The support-call demo's caller leg alone: three sentences, at 2.6 s, 8.4 s and 15.3 s. */
const demo = demoCall('support-call');
const CALLER_MS = 30_000;
const KEY_AT_MS = 25_000;

/** The model's side of the conversation, chosen by what the caller last said. */
function script(request: ChatRequest): ScriptedReply {
  const last = String(request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
  if (last.includes('pressed the key 1')) {
    return {
      text: 'Connecting you to sales now.',
      toolCalls: [{ name: 'transfer_call', arguments: { destination: 'sales' } }],
    };
  }
  if (last.includes('cold hearted')) return { text: 'Sorry about that. Press 1 for sales.', tokenDelayMs: 5 };
  if (last.includes('amiable')) return { text: LONG, tokenDelayMs: 5 };
  if (last.includes('ill disposed')) return { text: SHORT, firstTokenDelayMs: 50, tokenDelayMs: 5 };
  return { text: 'Sorry, could you say that again?' };
}

let vllm: VllmRealtimeDouble;
let llm: LlmDouble;
let rest: TwilioRestDouble;
let receiver: TestReceiver;
let gateway: Gateway;
let result: SimulatedCallResult;
let resourcesBefore: Record<string, number>;

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([demo]) });
  await vllm.listen();
  llm = new LlmDouble(script);
  await llm.listen();
  rest = new TwilioRestDouble();
  await rest.listen();
  receiver = new TestReceiver();
  await receiver.listen();
  gateway = await startGateway({
    VLLM_URL: vllm.url,
    CALL_MODE: 'agent',
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: 'sk-test',
    LLM_MODEL: 'test-model',
    AGENT_GREETING: GREETING,
    AGENT_TRANSFER_TARGETS: 'sales=+15550001111',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_API_BASE_URL: rest.url,
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  });
  // The fixed lines are synthesized at start (the default mode is agent): the call is placed once
  // they are, so that the greeting plays at once however slow flite is on a loaded machine, and the
  // caller's first words (2.6 s in) come after it, as the barge-in test below expects.
  await eventually(async () => {
    const metrics = String((await gateway.get('/metrics')).body);
    expect(/voxline_agent_phrases_cached (\d+)/.exec(metrics)?.[1]).toBe('8');
  }, 30_000);
  resourcesBefore = resources();
  const caller = new Uint8Array((CALLER_MS / 1000) * 8000).fill(0xff);
  caller.set(demo.caller.subarray(0, caller.length));
  result = await simulateTwilioCall({
    url: gateway.mediaUrl,
    authToken: AUTH_TOKEN,
    caller,
    customParameters: { voxlineMode: 'agent' },
    pace: 'realtime',
    dtmf: [{ atMs: KEY_AT_MS, digit: '1' }],
  });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await Promise.all([vllm?.close(), llm?.close(), rest?.close(), receiver?.close()]);
});

async function transcript() {
  let body:
    | {
        complete: boolean;
        utterances: {
          speaker: string;
          text: string;
          startMs: number;
          endMs: number;
          interrupted?: boolean;
        }[];
      }
    | undefined;
  await eventually(async () => {
    body = (await gateway.get(`/v1/calls/${result.callSid}/transcript`)).body;
    expect(body?.complete).toBe(true);
  }, 10_000);
  return body as NonNullable<typeof body>;
}

describe('a simulated caller talking to the voice agent (vLLM double, LLM double, flite TTS, Twilio REST double)', () => {
  it('greets the caller with flite speech, converted to μ-law exactly as the carrier edge does', async () => {
    // The agent speaks sentence by sentence; the edge converts them as one continuous stream.
    const tts = new FliteTts({ voice: 'slt', workers: 1 });
    const sentences = new SentenceSplitter().push(`${GREETING}\n`);
    expect(sentences).toEqual(['Hello.', 'How can I help?']);
    const downsampler = new Downsampler16to8();
    const parts: Uint8Array[] = [];
    for (const sentence of sentences) {
      for await (const pcm of tts.synthesize(sentence, new AbortController().signal)) {
        parts.push(downsampler.pushPcmToMulaw(pcm).slice());
      }
    }
    await tts.close();
    const expected = Buffer.concat(parts);
    expect(expected.length).toBeGreaterThan(8_000); // over a second of speech
    expect(Buffer.from(result.received.mulaw.subarray(0, expected.length))).toEqual(expected);
  });

  it('sends audio at real-time pace, in 100 ms messages each followed by a mark', () => {
    const { arrivals, marks } = result.received;
    expect(arrivals.length).toBeGreaterThan(50);
    expect(Math.max(...arrivals.map((a) => a.bytes))).toBe(800);
    // Within each burst of speech, audio never runs more than the 200 ms lead (+ one chunk) ahead.
    let burstStart = arrivals[0].atMs;
    let sentMs = 0;
    let previous = arrivals[0].atMs;
    let worstAheadMs = 0;
    for (const arrival of arrivals) {
      if (arrival.atMs - previous > 400) {
        burstStart = arrival.atMs;
        sentMs = 0;
      }
      previous = arrival.atMs;
      worstAheadMs = Math.max(worstAheadMs, sentMs - (arrival.atMs - burstStart));
      sentMs += arrival.bytes / 8;
    }
    expect(worstAheadMs).toBeLessThanOrEqual(450);
    expect(worstAheadMs).toBeGreaterThan(150); // it does keep a lead, so playback never starves
    expect(marks.length).toBeGreaterThanOrEqual(arrivals.length - 10);
  });

  it('answers each caller turn with what the model wrote, and remembers the conversation', async () => {
    const { utterances } = await transcript();
    const agent = utterances.filter((u) => u.speaker === 'agent');
    expect(agent[0].text).toBe(GREETING);
    expect(agent[1].text).toBe(SHORT);
    const caller = utterances.filter((u) => u.speaker === 'caller').map((u) => u.text);
    expect(caller).toEqual(demo.segments.filter((s) => s.leg === 'caller').map((s) => s.text));
    // The reply follows the caller's sentence on the call clock.
    const firstCaller = utterances.find((u) => u.speaker === 'caller');
    expect(agent[1].startMs).toBeGreaterThan(firstCaller?.endMs ?? Number.POSITIVE_INFINITY);
    const lastRequest = llm.requests.at(-1) as ChatRequest;
    expect(lastRequest.model).toBe('test-model');
    expect(lastRequest.messages[0].role).toBe('system');
    expect(lastRequest.messages.map((m) => m.role)).toContain('assistant');
  });

  it('stops talking when the caller barges in: clear sent, the agent turn cut to what was heard', async () => {
    expect(result.received.clears).toBe(1);
    const { utterances } = await transcript();
    const cut = utterances.find((u) => u.speaker === 'agent' && u.interrupted);
    expect(cut).toBeDefined();
    expect(LONG.startsWith(cut?.text ?? 'x')).toBe(true);
    expect(cut?.text.length).toBeLessThan(LONG.length / 2);
    // The third caller sentence starts at 15.3 s; the agent is cut within about a second of it.
    expect(cut?.endMs).toBeGreaterThan(15_300);
    expect(cut?.endMs).toBeLessThan(16_500);
    // The model's memory holds what the caller heard, not what it wrote.
    const after = llm.requests.find((r) =>
      r.messages.some((m) => m.role === 'user' && m.content?.includes('cold hearted')),
    );
    const remembered = after?.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
    expect(remembered).toContain(cut?.text);
    expect(remembered).not.toContain(LONG);
  });

  it('passes the key press to the model, and transfers the call through Twilio REST', async () => {
    expect(llm.userTurns()).toContain('[The caller pressed the key 1 on the phone keypad.]');
    await eventually(() => expect(rest.updates).toHaveLength(1), 5_000);
    const [update] = rest.updates;
    expect(update).toMatchObject({
      accountSid: ACCOUNT_SID,
      callSid: result.callSid,
      user: ACCOUNT_SID,
      password: AUTH_TOKEN,
    });
    expect(update.params.Twiml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15550001111</Dial></Response>',
    );
    const { utterances } = await transcript();
    expect(utterances.filter((u) => u.speaker === 'agent').at(-1)?.text).toBe('Connecting you to sales now.');
  });

  it('reports every step in signed, schema-valid webhooks', async () => {
    await eventually(() => expect(receiver.events.map((e) => e.type)).toContain('call.ended'), 10_000);
    const events = receiver.events.filter((e) => e.callSid === result.callSid);
    const validate = schemaValidator();
    for (const event of events) expect(validate(event)).toEqual([]);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('call.started');
    expect(types.at(-1)).toBe('call.ended');
    expect(events.find((e) => e.type === 'dtmf')?.data).toMatchObject({ digit: '1', speaker: 'caller' });
    expect(events.find((e) => e.type === 'agent.action')?.data).toMatchObject({
      action: 'transfer_call',
      destination: 'sales',
      target: '+15550001111',
      ok: true,
    });
    const finals = events.filter((e) => e.type === 'transcript.final');
    expect(finals.some((e) => e.data.speaker === 'agent' && e.data.interrupted === true)).toBe(true);
    const { agent } = events.at(-1)?.data ?? {};
    expect(agent.bargeIns).toHaveLength(1);
    expect(agent.bargeIns[0].reactionMs).toBeGreaterThan(0);
    const callerTurns = agent.turns.filter((t: { trigger: string }) => t.trigger === 'caller');
    expect(callerTurns.length).toBeGreaterThanOrEqual(3);
    for (const turn of callerTurns.filter((t: { status: string }) => t.status !== 'cancelled')) {
      expect(turn.latency.endOfSpeechToFirstFrameMs).toBeGreaterThan(0);
      expect(turn.latency.endOfSpeechToFirstFrameMs).toBeLessThan(3_000);
    }
  });

  it('records the call: the caller on the left channel, what the agent played on the right', async () => {
    const recording = await eventually(async () => {
      const response = await fetch(`${gateway.baseUrl}/v1/calls/${result.callSid}/recording`);
      expect(response.status).toBe(200);
      return new Uint8Array(await response.arrayBuffer());
    }, 10_000);
    const wav = new WaveFile(recording);
    expect(wav.fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, audioFormat: 7 });
    const [, right] = wav.getSamples(false, Uint8Array) as unknown as Uint8Array[];
    // The greeting, byte for byte as the caller received it, on the agent's channel.
    const greeting = Buffer.from(result.received.mulaw.subarray(0, 8_000));
    const at = Buffer.from(right).indexOf(greeting);
    expect(at).toBeGreaterThanOrEqual(0);
    // Where the transcript puts the greeting on the call clock (8 bytes a millisecond), to a frame or two.
    const spoken = (await transcript()).utterances.find((u) => u.speaker === 'agent');
    expect(Math.abs(at / 8 - (spoken?.startMs ?? Number.NaN))).toBeLessThanOrEqual(40);
  });

  it('exposes turn latency, barge-in and action metrics', async () => {
    const metrics = String((await gateway.get('/metrics')).body);
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? Number.NaN);
    expect(
      value(/voxline_agent_turn_stage_seconds_count\{stage="end_of_speech_to_first_frame"\} (\d+)/),
    ).toBeGreaterThanOrEqual(3);
    expect(value(/voxline_agent_barge_in_seconds_count (\d+)/)).toBe(1);
    expect(value(/voxline_agent_actions_total\{action="transfer_call",outcome="ok"\} (\d+)/)).toBe(1);
  });

  it('leaves no timers or sockets behind once the call is over', async () => {
    await transcript();
    // The peers hang up their keep-alive connections, and so do this test's own requests to voxline.
    await Promise.all([llm.close(), rest.close(), receiver.close(), vllm.close()]);
    gateway.app.server.server.closeIdleConnections();
    await eventually(() => {
      const now = resources();
      expect(now.Timeout ?? 0).toBeLessThanOrEqual(resourcesBefore.Timeout ?? 0);
      expect(now.TCPSocketWrap ?? 0).toBeLessThanOrEqual(resourcesBefore.TCPSocketWrap ?? 0);
    }, 8_000);
  }, 20_000);
});
