import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrainEvent, ReplyRound } from '../../src/agent/brain.js';
import { Conversation } from '../../src/agent/conversation.js';
import { WebhookBrain } from '../../src/agent/webhook-brain.js';
import { isVoxlineError } from '../../src/errors.js';
import { listenLoopback } from '../doubles/loopback-server.js';
import { SECRET } from '../helpers/webhooks.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** The operator's agent: verifies the signature with the standardwebhooks package, answers `reply`. */
async function operatorAgent(reply: (turn: { text: string }) => unknown) {
  const received: unknown[] = [];
  const verifier = new Webhook(SECRET);
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const turn = verifier.verify(body, req.headers as Record<string, string>) as { text: string };
      received.push(turn);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply(turn)));
    });
  });
  closers.push(() => server.close());
  return { url: await listenLoopback(server), received };
}

async function respond(brain: WebhookBrain, caller: string) {
  const conversation = new Conversation('unused');
  conversation.addAssistant('Hello!');
  conversation.addUser(caller);
  const events: BrainEvent[] = [];
  const rounds: ReplyRound[] = [];
  for await (const e of brain.respond(
    { callSid: 'CA9', conversation, rounds },
    new AbortController().signal,
  )) {
    events.push(e);
  }
  return events;
}

describe('WebhookBrain: bring your own agent', () => {
  it('POSTs each caller turn, signed, with the history, and speaks the reply', async () => {
    const agent = await operatorAgent((turn) => ({ say: `You said: ${turn.text}` }));
    const brain = new WebhookBrain({ url: agent.url, secret: SECRET, timeoutMs: 2_000, transferTargets: {} });
    expect(await respond(brain, 'my card is lost')).toEqual([
      { type: 'text', text: 'You said: my card is lost' },
    ]);
    expect(agent.received).toEqual([
      {
        type: 'agent.turn',
        callSid: 'CA9',
        turn: 1,
        text: 'my card is lost',
        history: [
          { role: 'agent', text: 'Hello!' },
          { role: 'caller', text: 'my card is lost' },
        ],
      },
    ]);
  });

  it('carries out end_call and transfer_call (to configured destinations only)', async () => {
    const agent = await operatorAgent((turn) =>
      turn.text === 'bye'
        ? { say: 'Goodbye.', action: 'end_call' }
        : { action: 'transfer_call', destination: 'billing' },
    );
    const brain = new WebhookBrain({
      url: agent.url,
      secret: SECRET,
      timeoutMs: 2_000,
      transferTargets: { billing: '+15550002222' },
    });
    expect((await respond(brain, 'bye')).at(-1)).toEqual({
      type: 'action',
      action: { kind: 'end_call', reason: 'agent webhook' },
    });
    expect(await respond(brain, 'billing please')).toEqual([
      { type: 'action', action: { kind: 'transfer_call', destination: 'billing', target: '+15550002222' } },
    ]);
    const strict = new WebhookBrain({
      url: agent.url,
      secret: SECRET,
      timeoutMs: 2_000,
      transferTargets: {},
    });
    await expect(respond(strict, 'billing please')).rejects.toThrow(/unknown transfer destination billing/);
  });

  it('fails clearly on a reply that is not the documented JSON, or no reply at all', async () => {
    const agent = await operatorAgent(() => ({ say: 42 }));
    const brain = new WebhookBrain({ url: agent.url, secret: SECRET, timeoutMs: 2_000, transferTargets: {} });
    await expect(respond(brain, 'hi')).rejects.toSatisfy(
      (err) => isVoxlineError(err, 'VL_ERR_AGENT_WEBHOOK_FAILED') && /reply \/say/.test(err.message),
    );
    const down = new WebhookBrain({
      url: 'http://127.0.0.1:9/agent',
      secret: undefined,
      timeoutMs: 500,
      transferTargets: {},
    });
    await expect(respond(down, 'hi')).rejects.toSatisfy((err) =>
      isVoxlineError(err, 'VL_ERR_AGENT_WEBHOOK_FAILED'),
    );
  });
});
