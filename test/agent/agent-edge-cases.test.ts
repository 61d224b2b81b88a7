import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { LlmDouble, type ScriptedReply } from '../doubles/llm-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { TwilioRestDouble } from '../doubles/twilio-rest-double.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';

const ACCOUNT_SID = `AC${'0'.repeat(31)}2`;
/** The greeting demo's caller leg: "he was not an ill disposed young man", 1.9 s to 4.9 s. */
const greetingDemo = demoCall('greeting');

let vllm: VllmRealtimeDouble;
let llm: LlmDouble;
let rest: TwilioRestDouble;
let reply: ScriptedReply = { text: 'Hello.' };

beforeAll(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([greetingDemo]) });
  await vllm.listen();
  llm = new LlmDouble(() => reply);
  await llm.listen();
  rest = new TwilioRestDouble();
  await rest.listen();
});

afterAll(async () => {
  await Promise.all([vllm.close(), llm.close(), rest.close()]);
});

function agentGateway(env: Record<string, string> = {}): Promise<Gateway> {
  return startGateway({
    VLLM_URL: vllm.url,
    CALL_MODE: 'agent',
    LLM_BASE_URL: llm.url,
    LLM_API_KEY: 'sk-test',
    AGENT_GREETING: 'Hi.',
    ...env,
  });
}

function call(gateway: Gateway, caller: Uint8Array) {
  return simulateTwilioCall({
    url: gateway.mediaUrl,
    authToken: AUTH_TOKEN,
    caller,
    customParameters: { voxlineMode: 'agent' },
    pace: 'realtime',
  });
}

async function agentLines(gateway: Gateway, callSid: string): Promise<string[]> {
  const body = await eventually(async () => {
    const { body } = await gateway.get(`/v1/calls/${callSid}/transcript`);
    expect(body.complete).toBe(true);
    return body as { utterances: { speaker: string; text: string }[] };
  }, 10_000);
  return body.utterances.filter((u) => u.speaker === 'agent').map((u) => u.text);
}

const silence = (ms: number) => new Uint8Array(ms * 8).fill(0xff);

describe('the voice agent when the caller says nothing, and when things fail', () => {
  it('reprompts a silent caller, then says goodbye and hangs up through Twilio REST', async () => {
    const gateway = await agentGateway({
      AGENT_SILENCE_MS: '1000',
      AGENT_MAX_REPROMPTS: '1',
      AGENT_REPROMPT: 'Still there?',
      AGENT_GOODBYE: 'Goodbye.',
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_API_BASE_URL: rest.url,
    });
    const result = await call(gateway, silence(15_000));
    expect(await agentLines(gateway, result.callSid)).toEqual(['Hi.', 'Still there?', 'Goodbye.']);
    expect(rest.updates.map((u) => [u.callSid, u.params])).toEqual([
      [result.callSid, { Status: 'completed' }],
    ]);
    // voxline also closes the stream itself, well before the caller's 15 s of silence ran out.
    expect(result.closeCode).toBe(1000);
    const snapshot = await gateway.call(result.callSid);
    expect(snapshot.endReason).toBe('agent_end_call');
    expect(snapshot.durationSeconds).toBeLessThan(12);
    expect(llm.requests).toHaveLength(0); // fixed lines: the model was never asked
    await gateway.close();
  }, 30_000);

  it('apologises when the model fails, instead of leaving the caller in silence', async () => {
    reply = { status: 500 };
    const gateway = await agentGateway({ AGENT_SILENCE_MS: '30000' });
    // 16 s of call: the apology (about 3.5 s of speech, after the failed turn) is heard to its end
    // even on a loaded machine; a call that ends first would count it as interrupted.
    const caller = new Uint8Array(16_000 * 8).fill(0xff);
    caller.set(greetingDemo.caller);
    const result = await call(gateway, caller);
    expect(await agentLines(gateway, result.callSid)).toEqual([
      'Hi.',
      'Sorry, something went wrong on my side. Could you say that again?',
    ]);
    const metrics = String((await gateway.get('/metrics')).body);
    expect(metrics).toMatch(/voxline_agent_turns_total\{trigger="caller",status="failed"\} 1/);
    expect(metrics).toMatch(/voxline_agent_turns_total\{trigger="apology",status="played"\} 1/);
    expect(gateway.logs.some((l) => l.msg === 'agent reply failed')).toBe(true);
    await gateway.close();
  }, 30_000);

  it('ends the call on end_call by closing the stream when no Twilio REST credentials are set', async () => {
    reply = {
      text: 'Goodbye then!',
      toolCalls: [{ name: 'end_call', arguments: { reason: 'caller done' } }],
    };
    const gateway = await agentGateway({ AGENT_SILENCE_MS: '30000' });
    const caller = new Uint8Array(12_000 * 8).fill(0xff);
    caller.set(greetingDemo.caller);
    const result = await call(gateway, caller);
    expect(await agentLines(gateway, result.callSid)).toEqual(['Hi.', 'Goodbye then!']);
    expect(result.closeCode).toBe(1000);
    const snapshot = await gateway.call(result.callSid);
    expect(snapshot.endReason).toBe('agent_end_call');
    expect(snapshot.durationSeconds).toBeLessThan(11);
    // The model was asked once, on the partial at the end of speech, and the final agreed.
    const turn = snapshot.agent?.turns.find((t) => t.trigger === 'caller');
    expect(turn?.latency?.earlyStart).toBe(true);
    expect(llm.userTurns().at(-1)).toBe('he was not an ill disposed young man');
    await gateway.close();
  }, 30_000);
});
