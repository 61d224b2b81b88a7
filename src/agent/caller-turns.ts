import type { TranscriptEvent } from '../asr/transcript-event.js';
import type { Call } from '../calls/call.js';
import type { SpeechEdge } from '../calls/speech-activity.js';
import type { TimerHandle } from '../clock.js';
import type { AgentConfig } from './agent-config.js';
import type { Reply } from './reply.js';
import type { TurnStamps } from './turn-latency.js';

export interface CallerTurnHandlers {
  /** The caller started talking (VAD). */
  speechStarted(): void;
  /** The caller has talked over the agent for BARGE_IN_MIN_MS: stop the agent now. */
  bargeIn(onsetWall: number, atMs: number): void;
  /** The caller's turn is over: speech ended and its final transcript is in. */
  turnEnded(text: string, stamps: TurnStamps): void;
  /** Speech ended; `text` is the partial so far. The reply may start, held until the final agrees. */
  earlyTurn(text: string, stamps: TurnStamps): Reply | undefined;
  /** Speech ended but nothing was recognised (noise, a cough). */
  heardNothing(): void;
  /** Whether agent audio is playing now. */
  playing(): boolean;
}

interface Expected {
  /** Speech the caller made under the agent's voice without barging in (a backchannel, a click). */
  readonly ignore: boolean;
  readonly stamps: TurnStamps;
  early: { readonly text: string; readonly reply: Reply } | undefined;
  timer: TimerHandle | undefined;
}

/** If the final of a caller turn never comes (engine down), the turn goes on with the partial after this. */
const FINAL_WAIT_MS = 5_000;

/**
 * Turn taking on the caller's leg: VAD edges say when the caller talks and stops; the engine's
 * finals say what was said. A turn ends when speech has ended (after AGENT_TURN_SILENCE_MS) and
 * the final for it is in; the partial at end of speech may start the reply early. Speech during
 * agent playback barges in once it has lasted BARGE_IN_MIN_MS; shorter speech there is ignored.
 * Its timers are the call scope's (on the call's clock), so they end with the call.
 */
export class CallerTurns {
  readonly #call: Call;
  readonly #leg: string;
  readonly #config: AgentConfig;
  readonly #on: CallerTurnHandlers;
  readonly #expected: Expected[] = [];
  #speaking = false;
  #duringPlayback = false;
  /** The current speech has lasted BARGE_IN_MIN_MS: a real turn, not a backchannel. */
  #sustained = false;
  #bargeTimer: TimerHandle | undefined;
  #partial = '';
  #pendingText = '';

  constructor(call: Call, leg: string, config: AgentConfig, handlers: CallerTurnHandlers) {
    this.#call = call;
    this.#leg = leg;
    this.#config = config;
    this.#on = handlers;
  }

  get callerSpeaking(): boolean {
    return this.#speaking;
  }

  speech(edge: SpeechEdge): void {
    if (edge.leg !== this.#leg) return;
    const now = this.#call.scope.clock.now();
    // The edge is decided after the fact (the VAD's window, min speech, hangover): back-date it.
    const wall = Math.min(now, now - (this.#call.clockMs(now) - edge.atMs));
    if (edge.type === 'start') {
      this.#speaking = true;
      this.#on.speechStarted();
      this.#duringPlayback = this.#on.playing();
      this.#sustained = false;
      if (!this.#duringPlayback) return;
      const delay = Math.max(0, this.#config.bargeInMinMs - (now - wall));
      this.#bargeTimer = this.#call.scope.setTimer(delay, () => {
        if (!this.#speaking) return;
        this.#sustained = true;
        // Playback may have ended meanwhile: then this is simply the caller's next turn.
        if (this.#on.playing()) this.#on.bargeIn(wall, edge.atMs);
      });
      return;
    }
    this.#speaking = false;
    this.#call.scope.clearTimer(this.#bargeTimer);
    const expected: Expected = {
      ignore: this.#duringPlayback && !this.#sustained,
      stamps: { endOfSpeech: wall },
      early: undefined,
      timer: undefined,
    };
    this.#expected.push(expected);
    if (!expected.ignore && this.#config.earlyStart && this.#partial) {
      const text = (this.#pendingText ? `${this.#pendingText} ${this.#partial}` : this.#partial).trim();
      const reply = this.#on.earlyTurn(text, expected.stamps);
      if (reply) expected.early = { text, reply };
    }
    expected.timer = this.#call.scope.setTimer(FINAL_WAIT_MS, () => this.#finalMissing(expected));
  }

  transcript(event: TranscriptEvent): void {
    if (event.leg !== this.#leg) return;
    if (event.type === 'partial') {
      this.#partial = event.text;
      return;
    }
    if (event.type !== 'final') return;
    this.#partial = '';
    // A final while the caller still talks: an utterance cut at its maximum length; the turn goes on.
    if (this.#speaking) {
      this.#pendingText = join(this.#pendingText, event.text);
      return;
    }
    const expected = this.#expected.shift();
    if (expected) this.#call.scope.clearTimer(expected.timer);
    this.#complete(expected, join(this.#pendingText, event.text));
  }

  close(): void {
    this.#call.scope.clearTimer(this.#bargeTimer);
    for (const expected of this.#expected.splice(0)) this.#call.scope.clearTimer(expected.timer);
  }

  #finalMissing(expected: Expected): void {
    const index = this.#expected.indexOf(expected);
    if (index < 0) return;
    this.#expected.splice(index, 1);
    this.#call.log.warn(
      { waitedMs: FINAL_WAIT_MS },
      'no final transcript for the caller turn: using the partial',
    );
    this.#complete(expected, join(this.#pendingText, this.#partial));
  }

  #complete(expected: Expected | undefined, text: string): void {
    this.#pendingText = '';
    this.#partial = '';
    if (expected?.ignore) return;
    const stamps: TurnStamps = { ...expected?.stamps, final: this.#call.scope.clock.now() };
    const early = expected?.early;
    if (!text) {
      early?.reply.cancel();
      this.#on.heardNothing();
      return;
    }
    if (early && normalize(early.text) === normalize(text)) {
      early.reply.stamps.final = stamps.final;
      early.reply.commit();
      return;
    }
    early?.reply.cancel();
    this.#on.turnEnded(text, stamps);
  }
}

function join(a: string, b: string): string {
  return `${a} ${b}`.replace(/\s+/g, ' ').trim();
}

function normalize(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}
