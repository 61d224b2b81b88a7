import type { TurnLatency } from './turn-latency.js';

/** An action the agent took on the call, as webhooks and call.ended report it. */
export interface AgentActionRecord {
  readonly action: 'end_call' | 'transfer_call';
  readonly destination?: string;
  readonly target?: string;
  readonly reason: string;
  readonly ok: boolean;
  readonly error?: string;
  /** On the call clock. */
  readonly atMs: number;
}

export interface AgentTurnRecord {
  /** What started the reply: the greeting, a caller turn, a key press, a reprompt, … */
  readonly trigger: 'greeting' | 'caller' | 'dtmf' | 'reprompt' | 'goodbye' | 'apology';
  readonly status: 'played' | 'interrupted' | 'cancelled' | 'failed';
  readonly latency: TurnLatency | null;
}

export interface BargeInRecord {
  /** Caller speech onset, on the call clock. */
  readonly atMs: number;
  /** Speech onset audio arriving at voxline → `clear` sent, in ms. */
  readonly reactionMs: number;
}

/** The agent's side of a call: kept on the Call, reported in call.ended. */
export interface AgentSummary {
  readonly brain: string;
  readonly tts: string;
  readonly turns: AgentTurnRecord[];
  readonly bargeIns: BargeInRecord[];
  readonly actions: AgentActionRecord[];
}
