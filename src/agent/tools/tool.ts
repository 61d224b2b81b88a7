import type { ChatCompletionFunctionTool } from 'openai/resources/chat/completions';
import type { CallAction, Keypad, SecureMode } from '../brain.js';

/** What a tool's run returns: text for the model, and maybe an action on the call. */
export interface ToolOutcome {
  readonly result: string;
  readonly action?: CallAction;
}

export interface AgentTool {
  readonly definition: ChatCompletionFunctionTool;
  run(
    args: Record<string, unknown>,
    context: {
      readonly callSid: string;
      readonly signal: AbortSignal;
      readonly secureMode?: SecureMode;
      readonly keypad?: Keypad;
    },
  ): Promise<ToolOutcome>;
}
