import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AgentActionRecord, AgentTurnRecord } from '../agent/agent-summary.js';
import { stageValues } from '../agent/turn-latency.js';

/** Voice agent metrics: per-turn latency by stage, barge-in reaction, turns and actions. */
export class AgentMetrics {
  readonly #stages: Histogram<'stage'>;
  readonly #bargeIn: Histogram;
  readonly #turns: Counter<'trigger' | 'status'>;
  readonly #actions: Counter<'action' | 'outcome'>;
  readonly #phrases: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#stages = new Histogram({
      name: 'voxline_agent_turn_stage_seconds',
      help: 'Agent turn latency by stage: end_of_speech_to_final, final_to_first_token, first_token_to_first_audio, first_audio_to_first_frame, end_of_speech_to_first_frame',
      labelNames: ['stage'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
    this.#bargeIn = new Histogram({
      name: 'voxline_agent_barge_in_seconds',
      help: 'Caller speech onset arriving at voxline → clear sent to the carrier',
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2],
      registers,
    });
    this.#turns = new Counter({
      name: 'voxline_agent_turns_total',
      help: 'Agent replies, by what started them and how they ended',
      labelNames: ['trigger', 'status'],
      registers,
    });
    this.#actions = new Counter({
      name: 'voxline_agent_actions_total',
      help: 'Calls ended or transferred by the agent, by outcome',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.#phrases = new Gauge({
      name: 'voxline_agent_phrases_cached',
      help: 'Sentences of the fixed agent lines (greeting, reprompt, goodbye, apologies) synthesized ahead and played from memory',
      registers,
    });
  }

  phrasesCached(sentences: number): void {
    this.#phrases.set(sentences);
  }

  turn(record: AgentTurnRecord): void {
    this.#turns.inc({ trigger: record.trigger, status: record.status });
    if (!record.latency) return;
    for (const [stage, ms] of stageValues(record.latency))
      if (ms !== null) this.#stages.observe({ stage }, ms / 1000);
  }

  bargeIn(reactionMs: number): void {
    this.#bargeIn.observe(reactionMs / 1000);
  }

  action(record: AgentActionRecord): void {
    this.#actions.inc({ action: record.action, outcome: record.ok ? 'ok' : 'failed' });
  }
}
