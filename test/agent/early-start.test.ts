import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateTwilioCall } from '../../src/simulator/twilio-call-simulator.js';
import { LlmDouble } from '../doubles/llm-double.js';
import { scriptedStt } from '../doubles/scripted-stt.js';
import { AUTH_TOKEN, eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall } from '../helpers/media.js';

let llm: LlmDouble;
beforeAll(async () => {
  llm = new LlmDouble(() => ({ text: 'Sure.', firstTokenDelayMs: 100 }));
  await llm.listen();
});
afterAll(() => llm.close());

async function converse(gateway: Gateway) {
  const caller = new Uint8Array(9_000 * 8).fill(0xff);
  caller.set(demoCall('greeting').caller); // one sentence, 1.9 s to 4.9 s
  const result = await simulateTwilioCall({
    url: gateway.mediaUrl,
    authToken: AUTH_TOKEN,
    caller,
    customParameters: { voxlineMode: 'agent' },
    pace: 'realtime',
  });
  const call = await eventually(() => {
    const c = gateway.app.registry.get(result.callSid);
    expect(c?.agent?.turns.some((t) => t.trigger === 'caller' && t.status === 'played')).toBe(true);
    return c;
  });
  return call?.agent?.turns ?? [];
}

function env(): Record<string, string> {
  return { CALL_MODE: 'agent', LLM_BASE_URL: llm.url, LLM_API_KEY: 'sk-test', AGENT_GREETING: 'none' };
}

describe('early start: the model is asked on the partial at end of speech', () => {
  it('keeps that reply when the final agrees: one request, marked earlyStart', async () => {
    llm.requests.length = 0;
    const gateway = await startGateway(env(), [], {
      engine: scriptedStt(() => ({
        partial: 'I want to cancel my order',
        final: 'I want to cancel my order.',
      })),
    });
    const turns = await converse(gateway);
    expect(llm.requests).toHaveLength(1);
    expect(turns.find((t) => t.trigger === 'caller')?.latency?.earlyStart).toBe(true);
    await gateway.close();
  }, 20_000);

  it('asks again with the final when it differs, and the partial leaves the model’s memory', async () => {
    llm.requests.length = 0;
    const gateway = await startGateway(env(), [], {
      engine: scriptedStt(() => ({ partial: 'I want to', final: 'I want to cancel my order' })),
    });
    const turns = await converse(gateway);
    // This engine's final comes within the flush, so the early request may be cancelled unsent.
    expect(llm.userTurns().at(-1)).toBe('I want to cancel my order');
    const users = llm.requests
      .at(-1)
      ?.messages.filter((m) => m.role === 'user')
      .map((m) => m.content);
    expect(users).toEqual(['I want to cancel my order']);
    expect(turns.map((t) => [t.trigger, t.status])).toEqual([
      ['caller', 'cancelled'],
      ['caller', 'played'],
    ]);
    expect(turns[1].latency?.earlyStart).toBe(false);
    await gateway.close();
  }, 20_000);
});
