/**
 * voxline's own share of each voice-agent turn stage, and the barge-in reaction time, with N agent
 * calls running at once. Everything that is not voxline answers instantly, in process: the speech
 * engine gives its final the moment an utterance is flushed, the brain writes its whole reply at
 * once, and TTS returns prepared audio. What remains is voxline: the real Silero VAD and its
 * hangover, turn taking, sentence splitting, playout pacing, marks, the Twilio edge. Callers are
 * the simulator playing the support-call demo's caller leg at real-time pace (three sentences;
 * the second and third interrupt the agent's long replies).
 *
 *   npx tsx bench/agent-turn.ts            CALLS=50 by default
 *   TTS=flite npx tsx bench/agent-turn.ts  the bundled flite engine instead of prepared audio
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import type { Brain, BrainEvent } from '../src/agent/brain.js';
import { FliteTts } from '../src/agent/tts/flite-tts.js';
import type { TextToSpeech } from '../src/agent/tts/tts.js';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { simulateTwilioCall } from '../src/simulator/twilio-call-simulator.js';
import { scriptedStt } from '../test/doubles/scripted-stt.js';
import { demoLegs, machine, percentile } from './lib.js';
import { freePortSync } from './ports.js';

const REPLY =
  'Thanks, I can help with that. Let me walk you through the steps one by one. ' +
  'First, open the app and sign in. Then choose the order you want to change. ' +
  'Finally, confirm the change and you will get an email.';

/** A speech engine that knows the answer at once: a partial with the first frame, the final on flush. */
const instantEngine = scriptedStt((n) => ({ partial: `caller turn ${n}`, final: `caller turn ${n}` }));

const instantBrain: Brain = {
  name: 'instant',
  async *respond(input): AsyncIterable<BrainEvent> {
    input.rounds.push({ text: REPLY, toolCalls: [], toolResults: [] });
    yield { type: 'text', text: REPLY };
  },
};

/** 60 ms of (quiet) audio per character, ready at once. */
const instantTts: TextToSpeech = {
  name: 'instant',
  async *synthesize(text) {
    yield new Int16Array(text.length * 60 * 16).fill(64);
  },
  close: async () => undefined,
};

export interface AgentTurnResult {
  readonly calls: number;
  readonly turns: number;
  readonly stages: { stage: string; p50: number; p99: number; note: string }[];
  readonly bargeIns: number;
  readonly bargeInP50: number;
  readonly bargeInP99: number;
  readonly bargeInMinMs: number;
  readonly lagP99Ms: number;
}

export async function benchAgentTurns(calls = Number(process.env.CALLS ?? 50)): Promise<AgentTurnResult> {
  const port = freePortSync();
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    TWILIO_VALIDATE: 'false',
    CALL_MODE: 'agent',
    AGENT_GREETING: 'none',
    AGENT_SILENCE_MS: '60000',
    RECORDING_FORMAT: 'none',
    DATA_DIR: `/tmp/voxline-bench-agent-${port}`,
    LOG_LEVEL: 'warn',
  });
  const tts = process.env.TTS === 'flite' ? new FliteTts({ voice: 'slt', workers: 1 }) : instantTts;
  const app = await buildApp(config, {
    logger: pino({ level: 'warn' }),
    engine: instantEngine,
    agent: { brain: instantBrain, tts },
  });
  await app.server.listen({ port, host: '127.0.0.1' });
  const { caller } = demoLegs();
  const audio = new Uint8Array(25_000 * 8).fill(0xff);
  audio.set(caller);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  await Promise.all(
    Array.from({ length: calls }, (_, i) =>
      // Staggered starts, as real calls arrive, so the turns do not all fall on the same instant.
      new Promise((resolve) => setTimeout(resolve, (i * 1000) / calls)).then(() =>
        simulateTwilioCall({ url: `ws://127.0.0.1:${port}/twilio/media`, caller: audio, pace: 'realtime' }),
      ),
    ),
  );
  lag.disable();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const ended = app.registry.ended();
  await app.server.close();
  await tts.close();

  const turns = ended.flatMap((c) => c.agent?.turns ?? []).filter((t) => t.latency !== null);
  const values = (pick: (l: NonNullable<(typeof turns)[number]['latency']>) => number | null) =>
    turns
      .map((t) => pick(t.latency as NonNullable<typeof t.latency>))
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
  const hangover = config.agent.turnSilenceMs;
  const stage = (name: string, sorted: number[], note: string, minus = 0) => ({
    stage: name,
    p50: percentile(sorted, 50) - minus,
    p99: percentile(sorted, 99) - minus,
    note,
  });
  const bargeIns = ended.flatMap((c) => c.agent?.bargeIns ?? []).map((b) => b.reactionMs);
  bargeIns.sort((a, b) => a - b);
  return {
    calls,
    turns: turns.length,
    stages: [
      stage(
        'end of speech → final',
        values((l) => l.endOfSpeechToFinalMs),
        `VAD windows and segmentation, less the ${hangover} ms hangover (AGENT_TURN_SILENCE_MS) that is waited on purpose`,
        hangover,
      ),
      stage(
        'final → first token',
        values((l) => l.finalToFirstTokenMs),
        'turn taking, reply start (0 when the early start already had it)',
      ),
      stage(
        'first token → first audio',
        values((l) => l.firstTokenToFirstAudioMs),
        tts === instantTts
          ? 'sentence splitting, TTS hand-off'
          : 'sentence splitting, and flite on one worker thread for every call (queued)',
      ),
      stage(
        'first audio → first frame sent',
        values((l) => l.firstAudioToFirstFrameMs),
        'playout, μ-law conversion, media message',
      ),
      stage(
        'end of speech → first frame sent',
        values((l) => l.endOfSpeechToFirstFrameMs),
        'all of the above, less the hangover',
        hangover,
      ),
    ],
    bargeIns: bargeIns.length,
    bargeInP50: percentile(bargeIns, 50),
    bargeInP99: percentile(bargeIns, 99),
    bargeInMinMs: config.agent.bargeInMinMs,
    lagP99Ms: lag.percentile(99) / 1e6,
  };
}

export function agentTurnTable(r: AgentTurnResult): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return [
    `| ${r.calls} agent calls, ${r.turns} turns | p50 | p99 | voxline's share covers |`,
    '|---|---|---|---|',
    ...r.stages.map((s) => `| ${s.stage} | ${ms(s.p50)} | ${ms(s.p99)} | ${s.note} |`),
    `| barge-in: speech onset at voxline → \`clear\` sent (${r.bargeIns}) | ${ms(r.bargeInP50)} | ${ms(r.bargeInP99)} | includes BARGE_IN_MIN_MS = ${r.bargeInMinMs} ms of speech waited on purpose; beyond it: ${ms(r.bargeInP50 - r.bargeInMinMs)} / ${ms(r.bargeInP99 - r.bargeInMinMs)} |`,
    `| event-loop lag over the run | | ${ms(r.lagP99Ms)} | |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`agent turns (${machine()}): voxline, VAD and callers in one process\n`);
  console.log(agentTurnTable(await benchAgentTurns()));
  process.exit(0);
}
