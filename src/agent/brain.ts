import type { ChatCompletionMessageToolCall } from 'openai/resources/chat/completions';
import type { ChatMessage, Conversation } from './conversation.js';

/** What the agent does to the call once its reply has been spoken. */
export type CallAction =
  | { readonly kind: 'end_call'; readonly reason: string }
  | { readonly kind: 'transfer_call'; readonly destination: string; readonly target: string };

export type BrainEvent =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'action'; readonly action: CallAction };

/** One model round of a reply: what it wrote, the tools it called and what they returned. */
export interface ReplyRound {
  text: string;
  readonly toolCalls: ChatCompletionMessageToolCall[];
  readonly toolResults: ChatMessage[];
}

/** Pauses and resumes the call's recording and transcription (secure mode for payments). */
export interface SecureMode {
  /** False when it was already paused (or the call is over). */
  pause(): boolean;
  resume(): boolean;
}

/** Presses keys into the call (an IVR voxline called): resolves once they are sent. */
export interface Keypad {
  send(keys: string): Promise<void>;
}

export interface BrainInput {
  readonly callSid: string;
  /** The call's secure mode, for the pause_recording / resume_recording tools. */
  readonly secureMode?: SecureMode;
  /** The call's keypad, for the send_dtmf tool. */
  readonly keypad?: Keypad;
  readonly conversation: Conversation;
  /** Filled by the brain as it goes, so the reply can enter the conversation however it ends. */
  readonly rounds: ReplyRound[];
}

/**
 * Decides what the agent says next: an LLM with tools (llm-brain.ts) or the operator's own agent
 * behind a webhook (webhook-brain.ts). Text streams out as it is produced.
 */
export interface Brain {
  readonly name: string;
  respond(input: BrainInput, signal: AbortSignal): AsyncIterable<BrainEvent>;
}

/**
 * The reply's messages for the conversation, with the text cut to the `heard` characters the
 * caller actually heard when it was interrupted (undefined: all of it was heard).
 */
export function replyMessages(rounds: readonly ReplyRound[], heard: number | undefined): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let left = heard ?? Number.POSITIVE_INFINITY;
  for (const round of rounds) {
    const text = left >= round.text.length ? round.text : cutAtWord(round.text, left);
    left = Math.max(0, left - round.text.length);
    if (round.toolCalls.length > 0) {
      messages.push({ role: 'assistant', content: text || null, tool_calls: round.toolCalls });
      messages.push(...round.toolResults);
    } else if (text) {
      messages.push({ role: 'assistant', content: text });
    }
  }
  return messages;
}

function cutAtWord(text: string, chars: number): string {
  if (chars <= 0) return '';
  const space = text.lastIndexOf(' ', chars);
  return text.slice(0, space > 0 ? space : chars).trim();
}
