import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrainEvent, ReplyRound } from '../../src/agent/brain.js';
import { replyMessages } from '../../src/agent/brain.js';
import { Conversation } from '../../src/agent/conversation.js';
import { LlmBrain } from '../../src/agent/llm-brain.js';
import { endCallTool, transferCallTool } from '../../src/agent/tools/call-tools.js';
import { httpTool } from '../../src/agent/tools/http-tool.js';
import type { AgentTool } from '../../src/agent/tools/tool.js';
import { isVoxlineError } from '../../src/errors.js';
import { LlmDouble, type ScriptedReply } from '../doubles/llm-double.js';
import { listenLoopback } from '../doubles/loopback-server.js';
import { eventually } from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';

let llm: LlmDouble | undefined;
const servers: { close(): unknown }[] = [];

afterEach(async () => {
  await llm?.close();
  for (const server of servers.splice(0)) server.close();
});

async function brainWith(
  script: (n: number) => ScriptedReply,
  tools: AgentTool[] = [endCallTool],
  timeoutMs = 5_000,
  clock?: ManualClock,
) {
  let n = 0;
  llm = new LlmDouble(() => script(++n));
  await llm.listen();
  return new LlmBrain({
    baseUrl: llm.url,
    apiKey: 'sk-test',
    model: 'm',
    temperature: 0.2,
    timeoutMs,
    tools,
    clock,
  });
}

async function run(brain: LlmBrain, caller = 'Hello', signal = new AbortController().signal) {
  const conversation = new Conversation('Be brief.');
  conversation.addUser(caller);
  const rounds: ReplyRound[] = [];
  const events: BrainEvent[] = [];
  for await (const event of brain.respond({ callSid: 'CA1', conversation, rounds }, signal))
    events.push(event);
  return { events, rounds, conversation };
}

describe('LlmBrain: an OpenAI-compatible model over streaming chat completions', () => {
  it('streams the text as it is written, with the system prompt, history and tools in the request', async () => {
    const brain = await brainWith(() => ({ text: 'Hi! How can I help?' }));
    const { events } = await run(brain);
    expect(events.map((e) => (e.type === 'text' ? e.text : ''))).toEqual([
      'Hi! ',
      'How ',
      'can ',
      'I ',
      'help?',
    ]);
    const [request] = llm?.requests ?? [];
    expect(request).toMatchObject({
      model: 'm',
      stream: true,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
    });
    expect(request.tools?.map((t) => t.function.name)).toEqual(['end_call']);
  });

  it('runs an HTTP tool, gives its JSON reply to the model, and speaks the second round', async () => {
    const seen: unknown[] = [];
    const shop = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push(JSON.parse(body));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"shipped","eta":"Friday"}');
      });
    });
    servers.push(shop);
    const url = await listenLoopback(shop);
    const tool = httpTool(
      {
        name: 'order_status',
        description: 'Order status',
        url: `${url}/order`,
        parameters: { type: 'object' },
      },
      { secret: undefined, timeoutMs: 2_000 },
    );
    const brain = await brainWith(
      (n) =>
        n === 1
          ? { text: 'Let me check.', toolCalls: [{ name: 'order_status', arguments: { order: 'A17' } }] }
          : { text: 'It ships Friday.' },
      [endCallTool, tool],
    );
    const { events, rounds } = await run(brain, 'Where is order A17?');
    expect(
      events
        .filter((e) => e.type === 'text')
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe('Let me check.It ships Friday.');
    expect(seen).toEqual([{ callSid: 'CA1', tool: 'order_status', arguments: { order: 'A17' } }]);
    const second = llm?.requests[1];
    expect(second?.messages.at(-2)).toMatchObject({ role: 'assistant', content: 'Let me check.' });
    expect(second?.messages.at(-1)).toMatchObject({
      role: 'tool',
      content: '{"status":"shipped","eta":"Friday"}',
    });
    // All of it enters the conversation when heard in full; cut at a word when interrupted.
    expect(replyMessages(rounds, undefined).map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant']);
    expect(replyMessages(rounds, 9)[0]).toMatchObject({ content: 'Let me' });
  });

  it('turns end_call and transfer_call into actions, and refuses a destination nobody configured', async () => {
    const tools = [endCallTool, transferCallTool({ sales: '+15550001111' }) as AgentTool];
    const brain = await brainWith(
      (n) =>
        n === 1
          ? { toolCalls: [{ name: 'transfer_call', arguments: { destination: 'the moon' } }] }
          : {
              text: 'Transferring you.',
              toolCalls: [{ name: 'transfer_call', arguments: { destination: 'sales' } }],
            },
      tools,
    );
    const { events, rounds } = await run(brain);
    expect(rounds[0].toolResults[0]).toMatchObject({
      content: expect.stringContaining('unknown destination'),
    });
    expect(events.at(-1)).toEqual({
      type: 'action',
      action: { kind: 'transfer_call', destination: 'sales', target: '+15550001111' },
    });
    expect(llm?.requests[0].tools?.[1].function.parameters).toMatchObject({
      properties: { destination: { enum: ['sales'] } },
    });
  });

  it('fails with VL_ERR_LLM_FAILED on an HTTP error, and when the reply does not start in time', async () => {
    const failing = await brainWith(() => ({ status: 500 }));
    await expect(run(failing)).rejects.toSatisfy((err) => isVoxlineError(err, 'VL_ERR_LLM_FAILED'));
    await llm?.close();
    const clock = new ManualClock();
    const slow = await brainWith(() => ({ text: 'late', firstTokenDelayMs: 2_000 }), [], 300, clock);
    const late = run(slow);
    let settled = false;
    const mark = () => {
      settled = true;
    };
    late.then(mark, mark);
    await eventually(() => expect(llm?.requests).toHaveLength(1)); // the request is out, no chunk yet
    await clock.advance(299);
    await clock.advance(0);
    expect(settled).toBe(false);
    await clock.advance(1);
    await expect(late).rejects.toThrow(/no reply within 300 ms/);
  });

  it('stops reading after a barge-in mid-reply and closes the request (the model sees the abort)', async () => {
    const brain = await brainWith(() => ({
      text: 'one two three four five six seven eight',
      tokenDelayMs: 50,
    }));
    const controller = new AbortController();
    const conversation = new Conversation('Be brief.');
    conversation.addUser('Hi');
    const texts: string[] = [];
    const reading = (async () => {
      for await (const event of brain.respond(
        { callSid: 'CA1', conversation, rounds: [] },
        controller.signal,
      )) {
        if (event.type !== 'text') continue;
        texts.push(event.text);
        // The caller barges in once two words have streamed.
        if (texts.length === 2) controller.abort(new Error('barge-in'));
      }
    })();
    await expect(reading).rejects.toThrow('barge-in');
    expect(texts).toEqual(['one ', 'two ']); // nothing read after the abort
    await eventually(() => expect(llm?.aborted).toBe(1));
  });
});
