import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

export type ChatMessage = ChatCompletionMessageParam;

/** Messages kept besides the system prompt; older exchanges are dropped whole. */
const MAX_MESSAGES = 80;

/**
 * One call's memory for the model: the system prompt, then caller and agent turns in the order
 * they happened. Agent turns hold what the caller actually heard (cut at a barge-in), not what the
 * model wrote, so the model knows where it was interrupted.
 */
export class Conversation {
  readonly #system: string;
  readonly #messages: ChatMessage[] = [];

  constructor(systemPrompt: string) {
    this.#system = systemPrompt;
  }

  get messages(): readonly ChatMessage[] {
    return [{ role: 'system', content: this.#system }, ...this.#messages];
  }

  /** Caller turns (transcripts, key presses) in order. */
  get userTurns(): string[] {
    return this.#messages.filter((m) => m.role === 'user').map((m) => String(m.content));
  }

  /** Returns the message, which `retract()` takes back (a turn started early on a partial). */
  addUser(text: string): ChatMessage {
    const message: ChatMessage = { role: 'user', content: text };
    this.#push(message);
    return message;
  }

  retract(message: ChatMessage): void {
    const index = this.#messages.lastIndexOf(message);
    if (index >= 0) this.#messages.splice(index, 1);
  }

  /** What the agent said, e.g. the greeting, outside a model reply. */
  addAssistant(text: string): void {
    if (text) this.#push({ role: 'assistant', content: text });
  }

  /** A model reply's messages (assistant text, tool calls and their results), once it is over. */
  addReply(messages: readonly ChatMessage[]): void {
    for (const message of messages) this.#push(message);
  }

  #push(message: ChatMessage): void {
    this.#messages.push(message);
    if (this.#messages.length <= MAX_MESSAGES) return;
    // Drop from the front up to the next caller turn, so no tool result loses its call.
    let drop = 1;
    while (drop < this.#messages.length && this.#messages[drop].role !== 'user') drop++;
    this.#messages.splice(0, drop);
  }
}
