import OpenAI from 'openai';
import type { ChatCompletionMessageFunctionToolCall } from 'openai/resources/chat/completions';
import { type Clock, systemClock } from '../clock.js';
import { VoxlineError } from '../errors.js';
import type { Brain, BrainEvent, BrainInput, CallAction, ReplyRound } from './brain.js';
import type { AgentTool } from './tools/tool.js';

export interface LlmBrainOptions {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly model: string;
  readonly temperature: number;
  /** The reply must start (first chunk) within this. */
  readonly timeoutMs: number;
  readonly tools: readonly AgentTool[];
  /** What the first-chunk deadline runs on; the system clock by default. */
  readonly clock?: Clock;
}

/** Model rounds per reply: a tool result goes back to the model, which may call another tool. */
const MAX_ROUNDS = 4;

/**
 * Any OpenAI-compatible chat-completions server (vLLM, Mistral, OpenAI, Ollama, llama.cpp…),
 * streamed through the `openai` package. Tool calls are run between rounds; end_call and
 * transfer_call become actions that the session carries out once the reply has been spoken.
 */
export class LlmBrain implements Brain {
  readonly name = 'llm';
  readonly #client: OpenAI;
  readonly #options: LlmBrainOptions;
  readonly #tools: Map<string, AgentTool>;

  constructor(options: LlmBrainOptions) {
    this.#options = options;
    // maxRetries 0: a caller is waiting; a retry after a long timeout helps nobody.
    this.#client = new OpenAI({ baseURL: options.baseUrl, apiKey: options.apiKey ?? 'none', maxRetries: 0 });
    this.#tools = new Map(options.tools.map((tool) => [tool.definition.function.name, tool]));
  }

  async *respond(input: BrainInput, signal: AbortSignal): AsyncIterable<BrainEvent> {
    const actions: CallAction[] = [];
    for (let round = 0; round < MAX_ROUNDS && actions.length === 0; round++) {
      const current: ReplyRound = { text: '', toolCalls: [], toolResults: [] };
      input.rounds.push(current);
      yield* this.#round(input, current, signal);
      if (current.toolCalls.length === 0) return;
      for (const call of current.toolCalls as ChatCompletionMessageFunctionToolCall[]) {
        const outcome = await this.#runTool(call, input, signal);
        current.toolResults.push({ role: 'tool', tool_call_id: call.id, content: outcome.result });
        if (outcome.action) actions.push(outcome.action);
      }
    }
    for (const action of actions.slice(0, 1)) yield { type: 'action', action };
  }

  async *#round(input: BrainInput, round: ReplyRound, signal: AbortSignal): AsyncIterable<BrainEvent> {
    const o = this.#options;
    const messages = [...input.conversation.messages];
    for (const previous of input.rounds.slice(0, -1)) {
      messages.push({ role: 'assistant', content: previous.text || null, tool_calls: previous.toolCalls });
      messages.push(...previous.toolResults);
    }
    const firstChunk = new AbortController();
    const clock = o.clock ?? systemClock;
    const timer = clock.setTimeout(() => firstChunk.abort(new Error('timeout')), o.timeoutMs);
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    try {
      const stream = await this.#client.chat.completions.create(
        {
          model: o.model,
          messages,
          temperature: o.temperature,
          stream: true,
          ...(this.#tools.size > 0 ? { tools: [...this.#tools.values()].map((t) => t.definition) } : {}),
        },
        { signal: AbortSignal.any([signal, firstChunk.signal]) },
      );
      for await (const chunk of stream) {
        clock.clearTimeout(timer);
        const delta = chunk.choices[0]?.delta;
        if (delta?.content) {
          round.text += delta.content;
          yield { type: 'text', text: delta.content };
        }
        // Tool calls stream in pieces keyed by index: the first has id and name, later ones add arguments.
        for (const part of delta?.tool_calls ?? []) {
          const call = calls.get(part.index) ?? { id: '', name: '', arguments: '' };
          call.id ||= part.id ?? '';
          call.name ||= part.function?.name ?? '';
          call.arguments += part.function?.arguments ?? '';
          calls.set(part.index, call);
        }
      }
      // The SDK may end the stream quietly on abort rather than throwing.
      signal.throwIfAborted();
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const detail = firstChunk.signal.aborted ? `no reply within ${o.timeoutMs} ms` : (err as Error).message;
      throw new VoxlineError('VL_ERR_LLM_FAILED', detail, { cause: err });
    } finally {
      clock.clearTimeout(timer);
    }
    for (const call of calls.values()) {
      round.toolCalls.push({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: call.arguments || '{}' },
      });
    }
  }

  async #runTool(call: ChatCompletionMessageFunctionToolCall, input: BrainInput, signal: AbortSignal) {
    const tool = this.#tools.get(call.function.name);
    if (!tool) return { result: JSON.stringify({ error: `no tool named ${call.function.name}` }) };
    let args: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(call.function.arguments);
      args = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
    } catch {
      return { result: JSON.stringify({ error: 'arguments were not valid JSON' }) };
    }
    return tool.run(args, {
      callSid: input.callSid,
      signal,
      secureMode: input.secureMode,
      keypad: input.keypad,
    });
  }
}
