import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { VoxlineError } from '../errors.js';
import type { Brain, BrainEvent, BrainInput } from './brain.js';
import { postSigned } from './tools/http-tool.js';

/** What the operator's agent answers to a turn. */
const AgentReply = Type.Object({
  say: Type.Optional(Type.String({ maxLength: 4_000 })),
  action: Type.Optional(Type.Union([Type.Literal('end_call'), Type.Literal('transfer_call')])),
  destination: Type.Optional(Type.String()),
});

export interface WebhookBrainOptions {
  readonly url: string;
  readonly secret: string | undefined;
  readonly timeoutMs: number;
  readonly transferTargets: Readonly<Record<string, string>>;
}

/**
 * "Bring your own agent": every caller turn is POSTed to AGENT_WEBHOOK_URL, signed like the other
 * webhooks, as `{ type: "agent.turn", callSid, turn, text, history }`; voxline speaks the `say` of
 * the JSON reply and carries out its `action` (end_call, or transfer_call to a configured
 * destination).
 */
export class WebhookBrain implements Brain {
  readonly name = 'webhook';
  readonly #options: WebhookBrainOptions;

  constructor(options: WebhookBrainOptions) {
    this.#options = options;
  }

  async *respond(input: BrainInput, signal: AbortSignal): AsyncIterable<BrainEvent> {
    const o = this.#options;
    const turns = input.conversation.userTurns;
    const history = input.conversation.messages
      .filter((m) => m.role === 'user' || m.role === 'assistant')
      .map((m) => ({ role: m.role === 'user' ? 'caller' : 'agent', text: String(m.content ?? '') }));
    let body: string;
    try {
      body = await postSigned(
        o.url,
        { type: 'agent.turn', callSid: input.callSid, turn: turns.length, text: turns.at(-1) ?? '', history },
        { secret: o.secret, timeoutMs: o.timeoutMs, signal },
      );
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new VoxlineError('VL_ERR_AGENT_WEBHOOK_FAILED', (err as Error).message, { cause: err });
    }
    let reply: unknown;
    try {
      reply = JSON.parse(body);
    } catch {
      throw new VoxlineError('VL_ERR_AGENT_WEBHOOK_FAILED', `${o.url} did not answer JSON`);
    }
    if (!Value.Check(AgentReply, reply)) {
      const first = [...Value.Errors(AgentReply, reply)][0];
      throw new VoxlineError('VL_ERR_AGENT_WEBHOOK_FAILED', `reply ${first?.path || '/'}: ${first?.message}`);
    }
    const round = { text: reply.say ?? '', toolCalls: [], toolResults: [] };
    input.rounds.push(round);
    if (round.text) yield { type: 'text', text: round.text };
    if (reply.action === 'end_call') {
      yield { type: 'action', action: { kind: 'end_call', reason: 'agent webhook' } };
    } else if (reply.action === 'transfer_call') {
      const destination = reply.destination ?? '';
      const target = o.transferTargets[destination];
      if (!target)
        throw new VoxlineError('VL_ERR_AGENT_WEBHOOK_FAILED', `unknown transfer destination ${destination}`);
      yield { type: 'action', action: { kind: 'transfer_call', destination, target } };
    }
  }
}
