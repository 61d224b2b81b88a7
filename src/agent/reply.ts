import type { FastifyBaseLogger } from 'fastify';
import type { OutboundAudio } from '../carriers/carrier.js';
import { type Clock, systemClock } from '../clock.js';
import { isVoxlineError, VoxlineError } from '../errors.js';
import type { Brain, CallAction, Keypad, ReplyRound, SecureMode } from './brain.js';
import type { Conversation } from './conversation.js';
import { Playout, type PlayoutOptions, type Spoken } from './playout.js';
import { SentenceSplitter } from './sentence-splitter.js';
import type { TextToSpeech } from './tts/tts.js';
import type { TurnStamps } from './turn-latency.js';

export type ReplySource = { readonly kind: 'brain' } | { readonly kind: 'text'; readonly text: string };

export interface ReplyDeps {
  readonly callSid: string;
  readonly secureMode?: SecureMode;
  readonly keypad?: Keypad;
  readonly brain: Brain;
  readonly tts: TextToSpeech;
  readonly outbound: OutboundAudio;
  readonly conversation: Conversation;
  readonly playout: Omit<PlayoutOptions, 'onFirstFrame'>;
  readonly log: FastifyBaseLogger;
}

export type ReplyStatus = 'played' | 'interrupted' | 'cancelled' | 'failed';

export interface ReplyOutcome {
  readonly status: ReplyStatus;
  readonly spoken: Spoken;
  readonly rounds: readonly ReplyRound[];
  readonly action: CallAction | undefined;
  readonly error: VoxlineError | undefined;
}

/**
 * One agent turn: the brain's text, cut into sentences, synthesized one by one and played. It can
 * be started early and held (`commit()` lets audio out), cancelled before a word was played, or
 * interrupted while playing, and always settles with what the caller heard.
 */
export class Reply {
  readonly stamps: TurnStamps = {};
  readonly #deps: ReplyDeps;
  readonly #source: ReplySource;
  readonly #controller = new AbortController();
  readonly #playout: Playout;
  /** Stamps the turn's stages: the playout's clock, so they share a scale with the caller's turn. */
  readonly #time: Clock;
  readonly #held: { text: string; pcm: Int16Array }[] = [];
  readonly #rounds: ReplyRound[] = [];
  #committed = false;
  #action: CallAction | undefined;
  #error: VoxlineError | undefined;
  #cancelled = false;
  #decide!: () => void;
  /** Resolves on commit() or cancel(): an early reply waits here, fully generated, for the final. */
  readonly #decided = new Promise<void>((resolve) => {
    this.#decide = resolve;
  });
  readonly outcome: Promise<ReplyOutcome>;

  constructor(source: ReplySource, deps: ReplyDeps, stamps: TurnStamps = {}) {
    this.#source = source;
    this.#deps = deps;
    Object.assign(this.stamps, stamps);
    this.#time = deps.playout.timers ?? systemClock;
    this.stamps.replyStart = this.#time.now();
    this.#playout = new Playout(deps.outbound, `r${Math.random().toString(36).slice(2, 8)}`, {
      ...deps.playout,
      onFirstFrame: () => {
        this.stamps.firstFrame = this.#time.now();
      },
    });
    this.outcome = this.#run();
  }

  get playing(): boolean {
    return this.#playout.playing;
  }

  get committed(): boolean {
    return this.#committed;
  }

  /** Audio may go out (an early reply waits for this until the final transcript agrees). */
  commit(): void {
    if (this.#committed || this.#cancelled) return;
    this.#committed = true;
    for (const { text, pcm } of this.#held.splice(0)) this.#playout.append(text, pcm);
    this.#decide();
  }

  /** Stops generating; if audio is playing, the carrier drops what it has queued (barge-in). */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#controller.abort(new Error('reply cancelled'));
    this.#playout.interrupt();
    this.#decide();
  }

  async #run(): Promise<ReplyOutcome> {
    try {
      await this.#generate(this.#controller.signal);
    } catch (err) {
      if (!this.#cancelled) {
        this.#error = isVoxlineError(err) ? err : new VoxlineError('VL_ERR_INTERNAL', (err as Error).message);
        this.#deps.log.error({ err }, 'agent reply failed');
      }
    }
    // An early reply waits, generated (or failed), until the final transcript decides on it.
    await this.#decided;
    if (this.#cancelled) this.#playout.interrupt();
    else this.#playout.finish(); // after a failure, what was generated before it still plays
    const spoken = await this.#playout.done();
    let status: ReplyStatus;
    if (this.#cancelled && spoken.sentMs === 0) status = 'cancelled';
    else if (this.#error) status = 'failed';
    else if (this.#cancelled || spoken.interrupted) status = 'interrupted';
    else status = 'played';
    return { status, spoken, rounds: this.#rounds, action: this.#action, error: this.#error };
  }

  async #generate(signal: AbortSignal): Promise<void> {
    const splitter = new SentenceSplitter();
    if (this.#source.kind === 'text') {
      this.stamps.firstToken = this.#time.now();
      this.#rounds.push({ text: this.#source.text, toolCalls: [], toolResults: [] });
      for (const sentence of splitter.push(`${this.#source.text}\n`)) await this.#speak(sentence, signal);
      return;
    }
    const input = {
      callSid: this.#deps.callSid,
      secureMode: this.#deps.secureMode,
      keypad: this.#deps.keypad,
      conversation: this.#deps.conversation,
      rounds: this.#rounds,
    };
    for await (const event of this.#deps.brain.respond(input, signal)) {
      if (event.type === 'action') {
        this.#action ??= event.action;
        continue;
      }
      this.stamps.firstToken ??= this.#time.now();
      for (const sentence of splitter.push(event.text)) await this.#speak(sentence, signal);
    }
    const rest = splitter.flush();
    if (rest) await this.#speak(rest, signal);
  }

  async #speak(sentence: string, signal: AbortSignal): Promise<void> {
    const parts: Int16Array[] = [];
    for await (const pcm of this.#deps.tts.synthesize(sentence, signal)) {
      this.stamps.firstAudio ??= this.#time.now();
      parts.push(pcm);
    }
    const pcm = parts.length === 1 ? parts[0] : concat(parts);
    if (this.#committed) this.#playout.append(sentence, pcm);
    else this.#held.push({ text: sentence, pcm });
  }
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
