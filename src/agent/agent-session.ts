import type { TranscriptEvent } from '../asr/transcript-event.js';
import type { Call } from '../calls/call.js';
import type { SpeechEdge } from '../calls/speech-activity.js';
import type { OutboundAudio } from '../carriers/carrier.js';
import type { TimerHandle } from '../clock.js';
import type { AgentMetrics } from '../observability/agent-metrics.js';
import type { AgentConfig } from './agent-config.js';
import type { AgentTurnRecord } from './agent-summary.js';
import { type Brain, type CallAction, replyMessages } from './brain.js';
import type { CallControl } from './call-control.js';
import { CallerTurns } from './caller-turns.js';
import { type ChatMessage, Conversation } from './conversation.js';
import { Reply, type ReplyOutcome, type ReplySource } from './reply.js';
import type { TextToSpeech } from './tts/tts.js';
import { type TurnStamps, turnLatency } from './turn-latency.js';

export interface AgentSessionDeps {
  readonly config: AgentConfig;
  readonly brain: Brain;
  readonly tts: TextToSpeech;
  readonly control: CallControl | undefined;
  readonly metrics: AgentMetrics;
}

const TRANSFER_FAILED = 'Sorry, I could not transfer your call right now.';
const APOLOGY = 'Sorry, something went wrong on my side. Could you say that again?';

/** Every line the agent says without the brain: what PhraseCache synthesizes ahead of calls. */
export function fixedLines(config: AgentConfig): string[] {
  return [config.greeting, config.reprompt, config.goodbye, APOLOGY, TRANSFER_FAILED].filter((l) => l.trim());
}
/** Key presses this close together reach the model as one message. */
const DTMF_GATHER_MS = 500;
const PLAYOUT = { chunkMs: 100, leadMs: 200 } as const;
/** How long the end of a call waits for the agent's last reply to settle (its transcript line). */
const SETTLE_ON_END_MS = 3_000;

type Trigger = AgentTurnRecord['trigger'];
const FIXED_LINES: ReadonlySet<Trigger> = new Set(['greeting', 'reprompt', 'goodbye', 'apology']);

/**
 * The voice agent on one bidirectional call: it greets, listens to the caller's leg (VAD edges and
 * transcripts, through CallerTurns), answers through the brain and TTS, stops the moment the
 * caller barges in, reprompts a silent caller and hangs up after repeated silence, and carries
 * out end_call / transfer_call once their reply has been spoken.
 */
export class AgentSession {
  readonly #call: Call;
  readonly #outbound: OutboundAudio;
  readonly #deps: AgentSessionDeps;
  readonly #conversation: Conversation;
  readonly #turns: CallerTurns;
  readonly #agentLabel: string;
  #reply: { reply: Reply; trigger: Trigger } | undefined;
  #silenceTimer: TimerHandle | undefined;
  #reprompts = 0;
  #utteranceId = 0;
  #digits: string[] = [];
  #dtmfTimer: TimerHandle | undefined;
  #ending = false;
  #settledReplies = Promise.resolve();
  /** The caller message an early reply was started on, until the final confirms or replaces it. */
  #tentative: { readonly message: ChatMessage; readonly reply: Reply } | undefined;

  constructor(call: Call, outbound: OutboundAudio, deps: AgentSessionDeps) {
    this.#call = call;
    this.#outbound = outbound;
    this.#deps = deps;
    this.#conversation = new Conversation(deps.config.systemPrompt);
    const caller = call.start.legs.find((l) => l.track === 'inbound')?.label ?? 'caller';
    this.#agentLabel = call.start.agentLabel;
    call.startAgent(deps.brain.name, deps.tts.name);
    this.#turns = new CallerTurns(call, caller, deps.config, {
      speechStarted: () => this.#callerSpeaking(),
      bargeIn: (onsetWall, atMs) => this.#bargeIn(onsetWall, atMs),
      turnEnded: (text, stamps) => this.#callerTurn(text, stamps),
      earlyTurn: (text, stamps) => this.#earlyTurn(text, stamps),
      heardNothing: () => {
        if (!this.#reply) this.#armSilence();
      },
      playing: () => this.#reply?.reply.playing === true,
    });
    const offSpeech = call.speech.subscribe((edge: SpeechEdge) => this.#turns.speech(edge));
    const offTranscript = call.transcript.subscribe((event) => {
      if (event.type !== 'end') this.#turns.transcript(event as TranscriptEvent);
    });
    call.scope.defer(async () => {
      offSpeech();
      offTranscript();
      this.#ending = true;
      this.#turns.close();
      call.scope.clearTimer(this.#silenceTimer);
      call.scope.clearTimer(this.#dtmfTimer);
      this.#reply?.reply.cancel();
      // Bounded: a brain or TTS that ignores the abort must not hold the call's close open. The
      // scope is closing, so this wait runs on its clock (a scope timer would never start now).
      const { clock } = call.scope;
      let timer: TimerHandle | undefined;
      await Promise.race([
        this.#settledReplies,
        new Promise<void>((resolve) => {
          timer = clock.setTimeout(resolve, SETTLE_ON_END_MS);
        }),
      ]);
      clock.clearTimeout(timer);
    });
  }

  start(): void {
    const { greeting } = this.#deps.config;
    if (greeting) this.#say({ kind: 'text', text: greeting }, 'greeting');
    else this.#armSilence();
  }

  dtmf(digit: string): void {
    this.#digits.push(digit);
    this.#call.scope.clearTimer(this.#dtmfTimer);
    this.#dtmfTimer = this.#call.scope.setTimer(DTMF_GATHER_MS, () => {
      const digits = this.#digits.splice(0);
      const keys = digits.length === 1 ? `the key ${digits[0]}` : `the keys ${digits.join(' ')}`;
      this.#conversation.addUser(`[The caller pressed ${keys} on the phone keypad.]`);
      this.#say({ kind: 'brain' }, 'dtmf');
    });
  }

  // ---- caller events (from CallerTurns) ----

  #callerSpeaking(): void {
    this.#call.scope.clearTimer(this.#silenceTimer);
    this.#reprompts = 0;
    const current = this.#reply;
    // The caller goes on before the reply was heard: its audio would answer half a sentence.
    if (current && !current.reply.playing && current.trigger === 'caller') current.reply.cancel();
  }

  #bargeIn(onsetWall: number, atMs: number): void {
    const current = this.#reply;
    if (!current?.reply.playing) return;
    current.reply.cancel();
    const reactionMs = Math.round(this.#call.scope.clock.now() - onsetWall);
    this.#call.recordBargeIn({ atMs: Math.round(atMs), reactionMs });
    this.#deps.metrics.bargeIn(reactionMs);
    this.#call.log.info({ reactionMs }, 'caller barged in: agent speech cleared');
  }

  #earlyTurn(text: string, stamps: TurnStamps): Reply | undefined {
    if (this.#ending) return undefined;
    this.#reply?.reply.cancel();
    const message = this.#conversation.addUser(text);
    const reply = this.#start({ kind: 'brain' }, 'caller', stamps);
    this.#tentative = { message, reply };
    reply.outcome.then((o) => {
      if (o.status === 'cancelled') this.#conversation.retract(message);
    });
    return reply;
  }

  #callerTurn(text: string, stamps: TurnStamps): void {
    // An early reply the final did not confirm: its partial text leaves the memory now, before the
    // model is asked again with the final.
    const tentative = this.#tentative;
    this.#tentative = undefined;
    if (tentative && !tentative.reply.committed) this.#conversation.retract(tentative.message);
    this.#conversation.addUser(text);
    this.#say({ kind: 'brain' }, 'caller', stamps);
  }

  // ---- replies ----

  #say(source: ReplySource, trigger: Trigger, stamps: TurnStamps = {}): void {
    if (this.#ending) return;
    this.#reply?.reply.cancel();
    this.#start(source, trigger, stamps).commit();
  }

  #start(source: ReplySource, trigger: Trigger, stamps: TurnStamps): Reply {
    this.#call.scope.clearTimer(this.#silenceTimer);
    if (source.kind === 'text') this.#conversation.addAssistant(source.text);
    const reply = new Reply(
      source,
      {
        callSid: this.#call.callSid,
        secureMode: { pause: () => this.#call.pause('agent'), resume: () => this.#call.resume('agent') },
        keypad: { send: (keys) => this.#call.sendDigits(keys) },
        brain: this.#deps.brain,
        tts: this.#deps.tts,
        outbound: this.#outbound,
        conversation: this.#conversation,
        playout: {
          ...PLAYOUT,
          clock: () => this.#call.clockMs(),
          timers: this.#call.scope.clock,
          onAudio: (pcm, startMs) => this.#call.played.push(pcm, startMs),
        },
        log: this.#call.log,
      },
      stamps,
    );
    const entry = { reply, trigger };
    this.#reply = entry;
    const settled = reply.outcome
      .then((outcome) => this.#settle(entry, outcome))
      .catch((err: unknown) => this.#call.log.error({ err }, 'agent turn could not be settled'));
    this.#settledReplies = this.#settledReplies.then(() => settled);
    return reply;
  }

  #settle(entry: { reply: Reply; trigger: Trigger }, outcome: ReplyOutcome): void {
    const { spoken } = outcome;
    if (this.#reply === entry) this.#reply = undefined;
    if (spoken.text) {
      this.#call.transcript.add({
        type: 'final',
        leg: this.#agentLabel,
        utteranceId: ++this.#utteranceId,
        text: spoken.text,
        startMs: spoken.startMs,
        endMs: spoken.endMs,
        words: spoken.words,
        recovered: false,
        engine: `tts:${this.#deps.tts.name}`,
        ...(spoken.interrupted ? { interrupted: true } : {}),
      });
    }
    if (outcome.status === 'cancelled') {
      this.#record(entry.trigger, outcome, null);
      return;
    }
    // Fixed lines entered the conversation when they were started; model replies enter as heard.
    if (outcome.rounds.length > 0 && !FIXED_LINES.has(entry.trigger)) {
      this.#conversation.addReply(
        replyMessages(outcome.rounds, spoken.interrupted ? spoken.heardChars : undefined),
      );
    }
    const latency = entry.reply.stamps.firstFrame === undefined ? null : turnLatency(entry.reply.stamps);
    this.#record(entry.trigger, outcome, latency);
    if (this.#ending) return;
    if (outcome.action) {
      void this.#act(outcome.action);
      return;
    }
    if (outcome.status === 'failed' && !spoken.text && entry.trigger !== 'apology') {
      this.#say({ kind: 'text', text: APOLOGY }, 'apology');
      return;
    }
    if (entry.trigger === 'goodbye') {
      void this.#act({ kind: 'end_call', reason: 'caller silent' });
      return;
    }
    if (!this.#reply) this.#armSilence();
  }

  #record(trigger: Trigger, outcome: ReplyOutcome, latency: AgentTurnRecord['latency']): void {
    const record: AgentTurnRecord = { trigger, status: outcome.status, latency };
    this.#call.recordAgentTurn(record);
    this.#deps.metrics.turn(record);
  }

  #armSilence(): void {
    this.#call.scope.clearTimer(this.#silenceTimer);
    if (this.#ending || this.#turns.callerSpeaking) return;
    this.#silenceTimer = this.#call.scope.setTimer(this.#deps.config.silenceMs, () => {
      if (this.#reply || this.#turns.callerSpeaking) return;
      this.#reprompts++;
      const { reprompt, goodbye, maxReprompts } = this.#deps.config;
      if (this.#reprompts > maxReprompts) this.#say({ kind: 'text', text: goodbye }, 'goodbye');
      else this.#say({ kind: 'text', text: reprompt }, 'reprompt');
    });
  }

  // ---- actions on the call ----

  async #act(action: CallAction): Promise<void> {
    this.#ending = true;
    const call = this.#call;
    const atMs = Math.round(call.clockMs());
    const base =
      action.kind === 'transfer_call'
        ? {
            action: action.kind,
            destination: action.destination,
            target: action.target,
            reason: 'transfer',
            atMs,
          }
        : { action: action.kind, reason: action.reason, atMs };
    const control = this.#deps.control;
    try {
      if (action.kind === 'transfer_call') {
        if (control) await control.transfer(call.callSid, action.target);
        else if (call.remotelyControlled) throw new Error('no call control configured (TWILIO_ACCOUNT_SID)');
        else await call.transfer(action.target);
      } else if (control) {
        await control.hangUp(call.callSid);
      }
      call.recordAgentAction({ ...base, ok: true });
      this.#deps.metrics.action({ ...base, ok: true });
      call.log.info({ action: action.kind, destination: base.destination }, 'agent action done');
    } catch (err) {
      const error = (err as Error).message;
      call.recordAgentAction({ ...base, ok: false, error });
      this.#deps.metrics.action({ ...base, ok: false });
      call.log.error({ err, action: action.kind }, 'agent action failed');
      if (action.kind === 'transfer_call' && (control || !call.remotelyControlled)) {
        // The caller is still here: say so, and carry on the conversation.
        this.#ending = false;
        this.#conversation.addUser('[System note: the transfer failed. The caller is still on the line.]');
        this.#say({ kind: 'text', text: TRANSFER_FAILED }, 'apology');
        return;
      }
    }
    // Without a control API (or when it failed), closing the <Connect><Stream> socket ends the call:
    // voxline's TwiML has nothing after it. After a transfer Twilio stops the stream itself.
    // SIP and AudioSocket calls have no control API: closing their transport sends BYE / hangup.
    if (action.kind === 'end_call' || !control) {
      void call.hangUp(1000, 'agent ended the call', `agent_${action.kind}`);
    }
  }
}
