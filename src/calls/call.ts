import type { FastifyBaseLogger } from 'fastify';
import type {
  AgentActionRecord,
  AgentSummary,
  AgentTurnRecord,
  BargeInRecord,
} from '../agent/agent-summary.js';
import type { CallStart, CallTransport, OutboundAudio, Participant } from '../carriers/carrier.js';
import { playKeys } from '../carriers/in-band-keys.js';
import { type Clock, systemClock } from '../clock.js';
import { AudioRedaction, type AudioRedactionOptions } from '../compliance/audio-redaction.js';
import { maskRedactedWords } from '../compliance/transcript-masks.js';
import type { RedactionPolicy } from '../compliance/transcript-redactor.js';
import { VoxlineError } from '../errors.js';
import { CallTranscript } from '../transcripts/call-transcript.js';
import { CallLog, type DtmfRecord, type StatusRecord } from './call-log.js';
import { CallPauses, type PauseRecord } from './call-pauses.js';
import { CallScope } from './call-scope.js';
import { Leg, type LegStats, type LegTiming } from './leg.js';
import { PlayedAudio } from './played-audio.js';
import { SpeechActivity } from './speech-activity.js';

export type CallState = 'live' | 'ended';

/** Told about a call's life: webhooks, recorders. Called synchronously; must not throw. */
export interface CallObserver {
  callStarted?(call: Call): void;
  dtmf?(call: Call, record: DtmfRecord & { readonly leg: string }): void;
  /** The voice agent hung up or transferred the call (or failed to). */
  agentAction?(call: Call, record: AgentActionRecord): void;
  /** The call is over (legs flushed); transcripts may still be finishing (see CallTranscript). */
  callEnded?(call: Call): void;
  /** Recording and transcription paused (`resumed` false) or resumed, at `atMs` on the call clock. */
  paused?(call: Call, change: { readonly paused: boolean; readonly atMs: number; readonly by: string }): void;
}

/** What a call keeps out of its transcript, key presses and recording (REDACT, DTMF_REDACT, REDACT_AUDIO). */
export interface CallPrivacy {
  readonly transcript?: RedactionPolicy;
  readonly dtmf: boolean;
  /** The recording is masked over redacted spans and key-press tones. */
  readonly audio?: AudioRedactionOptions;
}

const NO_REDACTION: CallPrivacy = { dtmf: false };

/** A key press told out of band is masked from this long before the moment it was told… */
const DTMF_GUARD_MS = 500;
/** …to this long after (a tone still sounding). */
const DTMF_TAIL_MS = 300;

/** One live (or recently ended) call: its legs, its scope, and what went wrong on the wire. */
export class Call {
  readonly start: CallStart;
  readonly scope: CallScope;
  readonly log: FastifyBaseLogger;
  readonly #legs = new Map<string, Leg>();
  readonly startedAt: Date;
  /** Key presses, status callbacks, malformed messages: what the carrier said besides audio. */
  readonly #log = new CallLog();
  /** Speaker-labelled transcript of every leg, filled by the speech engine. */
  readonly transcript: CallTranscript;
  /** What the call's transcripts are redacted of (post-call transcripts too); undefined: nothing. */
  readonly redaction: RedactionPolicy | undefined;
  /** Speech starts and ends per leg, from the VAD. */
  readonly speech = new SpeechActivity();
  /** What voxline plays into the call (agent mode), for the recorder. */
  readonly played: PlayedAudio;
  /** With REDACT_AUDIO: where each leg's recording is masked, and what holds its audio back. */
  readonly audioRedaction: AudioRedaction | undefined;
  readonly #clock: Clock;
  readonly #startedAtPerf: number;
  #state: CallState = 'live';
  #endedAt: Date | undefined;
  #endReason: string | undefined;
  #sequenceGaps = 0;
  /** WebSocket close code, when the carrier connection closed. */
  #closeCode: number | undefined;
  /** The audio path back into the call, when the carrier is bidirectional (given at open). */
  readonly outbound: OutboundAudio | undefined;
  /** Agent calls: the voice agent's turns, barge-ins and actions. */
  #agent:
    | {
        brain: string;
        tts: string;
        turns: AgentTurnRecord[];
        bargeIns: BargeInRecord[];
        actions: AgentActionRecord[];
      }
    | undefined;
  /** On hold (SIP) or paused (SIPREC): no media is expected, so the idle timeout does not apply. */
  #held = false;
  /** Messages received from the carrier; the idle sweep watches it change (a counter is cheaper than a clock read per message). */
  #messages = 0;
  /** When the idle sweep last saw `messages` change (on the call's clock, which the idle sweep reads too). */
  #lastActivity: number;
  #messagesSeen = 0;
  readonly #transport: CallTransport;
  readonly #redactDtmf: boolean;
  readonly #pauses = new CallPauses();
  readonly #onEnd: (call: Call) => void;
  readonly #observers: readonly CallObserver[];

  constructor(
    start: CallStart,
    transport: CallTransport,
    log: FastifyBaseLogger,
    timing: LegTiming,
    onEnd: (call: Call) => void,
    observers: readonly CallObserver[] = [],
    clock: Clock = systemClock,
    outbound?: OutboundAudio,
    privacy: CallPrivacy = NO_REDACTION,
  ) {
    this.start = start;
    this.#redactDtmf = privacy.dtmf;
    this.redaction = privacy.transcript;
    this.outbound = outbound;
    this.#clock = clock;
    this.startedAt = new Date(clock.wallNow());
    this.transcript = new CallTranscript(
      () => clock.wallNow(),
      privacy.transcript ? { policy: privacy.transcript, clock } : undefined,
    );
    this.#startedAtPerf = clock.now();
    this.#lastActivity = clock.now();
    this.log = log;
    this.scope = new CallScope(log, () => void this.hangUp(1011, 'internal error', 'internal_error'), clock);
    this.#transport = transport;
    this.#onEnd = onEnd;
    this.#observers = observers;
    this.played = new PlayedAudio(start.agentLabel, (err) =>
      log.error({ err, leg: start.agentLabel }, 'played-audio consumer failed'),
    );
    const legTiming: LegTiming = { ...timing, now: timing.now ?? (() => clock.now()) };
    for (const spec of start.legs) {
      this.#legs.set(
        spec.track,
        new Leg(
          spec,
          legTiming,
          (err) => log.error({ err, leg: spec.label }, 'leg consumer failed'),
          start.bidirectional,
        ),
      );
    }
    this.audioRedaction = privacy.audio ? this.#redactAudio(privacy.audio) : undefined;
  }

  #redactAudio(options: AudioRedactionOptions): AudioRedaction {
    const redaction = new AudioRedaction(options);
    const labels = [...this.#legs.values()].map((leg) => leg.label);
    maskRedactedWords(this.transcript, redaction, labels);
    if (this.#redactDtmf) {
      // A key press is told after its tone began: the leg's last DTMF_GUARD_MS stay held.
      for (const leg of this.#legs.values()) {
        redaction.hold(leg.label, () => {
          if (this.#state === 'ended') return undefined; // every key press is in
          const at = leg.stats().positionMs;
          return at === null ? undefined : at - DTMF_GUARD_MS;
        });
      }
    }
    // Registered first, so it runs after every leg's transcriber has finished (cleanups run newest
    // first) and before the recorder closes (deferLast): held-back finals mask the audio in time.
    this.scope.defer(() => this.transcript.settle());
    return redaction;
  }

  /** The call's legs by track; read-only (legs are fixed at open). */
  get legs(): ReadonlyMap<string, Leg> {
    return this.#legs;
  }

  get callSid(): string {
    return this.start.callSid;
  }

  get state(): CallState {
    return this.#state;
  }

  get endedAt(): Date | undefined {
    return this.#endedAt;
  }

  get endReason(): string | undefined {
    return this.#endReason;
  }

  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  get sequenceGaps(): number {
    return this.#sequenceGaps;
  }

  get dtmf(): readonly DtmfRecord[] {
    return this.#log.dtmf;
  }

  get dtmfDropped(): number {
    return this.#log.dtmfDropped;
  }

  get status(): readonly StatusRecord[] {
    return this.#log.status;
  }

  /** Agent calls: the voice agent's turns, barge-ins and actions. */
  get agent(): AgentSummary | undefined {
    return this.#agent;
  }

  get held(): boolean {
    return this.#held;
  }

  get paused(): boolean {
    return this.#pauses.paused;
  }

  /** Key presses are kept as `*` (DTMF_REDACT), and their tones masked in a redacted recording. */
  get redactsDtmf(): boolean {
    return this.#redactDtmf;
  }

  get pauses(): readonly PauseRecord[] {
    return this.#pauses.records;
  }

  /**
   * Secure mode (a caller reading out card details): every leg records silence and is not
   * transcribed until `resume`, and key presses are kept as `*`. False when already paused, ended,
   * or at the bound on pauses.
   */
  pause(by: string): boolean {
    return this.#setPaused(true, by);
  }

  resume(by: string): boolean {
    return this.#setPaused(false, by);
  }

  #setPaused(paused: boolean, by: string): boolean {
    if (this.#state === 'ended') return false;
    // Where the call's audio has got to (the furthest leg): where the change takes effect.
    const positions = [...this.#legs.values()].flatMap((l) => l.stats().positionMs ?? []);
    const atMs = Math.round(positions.length > 0 ? Math.max(...positions) : this.clockMs());
    if (!(paused ? this.#pauses.start(atMs, by) : this.#pauses.end(atMs))) return false;
    for (const leg of this.#legs.values()) leg.setPaused(paused);
    this.log.info(
      { atMs, by },
      paused ? 'recording and transcription paused' : 'recording and transcription resumed',
    );
    this.#notify((o) => o.paused?.(this, { paused, atMs, by }));
    return true;
  }

  /** Messages received from the carrier so far. */
  get messages(): number {
    return this.#messages;
  }

  /** The carrier's control API acts on this call by its CallSid (the transport says so). */
  get remotelyControlled(): boolean {
    return this.#transport.remotelyControlled === true;
  }

  /** A message (or packet) came from the carrier: the call is not idle. */
  noteActivity(): void {
    this.#messages++;
  }

  /** On hold (SIP) or paused (SIPREC), or back. */
  setHeld(held: boolean): void {
    this.#held = held;
  }

  /** Media messages the carrier numbered but never sent. */
  countSequenceGap(missing: number): void {
    this.#sequenceGaps += missing;
  }

  /** The carrier connection closed with `code` (a WebSocket close code). */
  noteClose(code: number): void {
    this.#closeCode = code;
  }

  /** The voice agent took the call: its turns, barge-ins and actions are kept from now. */
  startAgent(brain: string, tts: string): void {
    this.#agent ??= { brain, tts, turns: [], bargeIns: [], actions: [] };
  }

  recordAgentTurn(record: AgentTurnRecord): void {
    this.#agent?.turns.push(record);
  }

  recordBargeIn(record: BargeInRecord): void {
    this.#agent?.bargeIns.push(record);
  }

  /** Hands the call to `target` over the carrier's own signalling, when its transport can. */
  async transfer(target: string): Promise<void> {
    if (!this.#transport.transfer)
      throw new Error(
        `transfer is not available on ${this.start.ingress} calls (Twilio calls transfer through TWILIO_ACCOUNT_SID, SIP calls with REFER)`,
      );
    await this.#transport.transfer(target);
  }

  /**
   * Presses keys towards the far end (an IVR): over the carrier's own signalling when its
   * transport can (SIP: RFC 4733), else as in-band tones on the call's audio back.
   */
  async sendDigits(keys: string): Promise<void> {
    if (this.#transport.sendDigits) return this.#transport.sendDigits(keys);
    if (this.outbound) return playKeys(this.outbound, keys, this.#clock);
    throw new VoxlineError(
      'VL_ERR_CALL_CONTROL_FAILED',
      `keys cannot be sent on this ${this.start.ingress} call: it carries no audio back`,
    );
  }

  /** Called by the idle sweep: true when no message has arrived for `idleMs`. */
  idleFor(idleMs: number, now: number): boolean {
    if (this.#messages !== this.#messagesSeen || this.#held) {
      this.#messagesSeen = this.#messages;
      this.#lastActivity = now;
    }
    return now - this.#lastActivity > idleMs;
  }

  /** Now on the call clock (ms): from the newest media, or the time since start before any. */
  clockMs(now = this.#clock.now()): number {
    for (const leg of this.legs.values()) {
      const at = leg.clockMs(now);
      if (at !== undefined) return at;
    }
    return now - this.#startedAtPerf;
  }

  countMalformed(reason: string): number {
    return this.#log.countMalformed(reason);
  }

  /**
   * A digit pressed on `track`'s side, placed where that leg's timeline had got to. A call keeps
   * at most MAX_DTMF_PER_CALL (no keypad needs more); a peer flooding key events past it has the
   * rest counted, not stored, published or handed to the agent.
   */
  recordDtmf(digit: string, track: string): void {
    // Redacted, the digit is never kept: the call log, webhooks and the agent all get `*`.
    const record = {
      digit: this.#redactDtmf || this.paused ? '*' : digit,
      atMs: this.legs.get(track)?.stats().positionMs ?? null,
    };
    const leg = this.legs.get(track)?.label ?? track;
    if (this.#redactDtmf && record.atMs !== null)
      // Its tone is in the audio around the moment it was told (RFC 4733 and Twilio tell it late).
      this.audioRedaction?.mask(leg, record.atMs - DTMF_GUARD_MS, record.atMs + DTMF_TAIL_MS, 'dtmf');
    if (!this.#log.addDtmf(record)) return;
    this.#notify((o) => o.dtmf?.(this, { ...record, leg }));
  }

  recordAgentAction(record: AgentActionRecord): void {
    this.#agent?.actions.push(record);
    this.#notify((o) => o.agentAction?.(this, record));
  }

  /** Tells every observer; one that throws is logged, never allowed to break the call. */
  #notify(tell: (observer: CallObserver) => void): void {
    for (const observer of this.#observers) {
      try {
        tell(observer);
      } catch (err) {
        this.log.error({ err }, 'call observer failed');
      }
    }
  }

  /** Called by the registry once the call is set up. */
  announceStart(): void {
    this.#notify((o) => o.callStarted?.(this));
  }

  recordStatus(event: string, detail: Record<string, string>): void {
    this.#log.addStatus({ event, receivedAt: new Date(this.#clock.wallNow()).toISOString(), detail });
  }

  /** Ends the call from the core's side: closes the carrier connection, then finalizes. */
  hangUp(code: number, reason: string, endReason: string): Promise<void> {
    this.#closeCode ??= code;
    this.#transport.close(code, reason);
    return this.end(endReason);
  }

  /** Finalizes: flushes every leg, closes the scope. Idempotent. */
  end(reason: string): Promise<void> {
    if (this.#state === 'ended') return this.scope.close(reason);
    this.#state = 'ended';
    this.#endedAt = new Date(this.#clock.wallNow());
    this.#endReason = reason;
    for (const leg of this.legs.values()) leg.end();
    this.played.end();
    this.#onEnd(this);
    this.#notify((o) => o.callEnded?.(this));
    // The scope's close waits (bounded) for everything writing the transcript: each leg's
    // transcriber and the agent's last words. Then the transcript is complete.
    const closed = this.scope.close(reason);
    void closed.finally(() => this.transcript.end());
    return closed;
  }

  snapshot(): CallSnapshot {
    const end = this.endedAt ?? new Date(this.#clock.wallNow());
    return {
      callSid: this.start.callSid,
      ingress: this.start.ingress,
      streamSid: this.start.streamSid,
      accountSid: this.start.accountSid ?? null,
      participants: this.start.participants ?? [],
      mode: this.start.mode,
      bidirectional: this.start.bidirectional,
      state: this.state,
      startedAt: this.startedAt.toISOString(),
      endedAt: this.endedAt?.toISOString() ?? null,
      endReason: this.endReason ?? null,
      closeCode: this.closeCode ?? null,
      durationSeconds: (end.getTime() - this.startedAt.getTime()) / 1000,
      customParameters: this.start.customParameters,
      legs: [...this.legs.values()].map((leg) => leg.stats()),
      malformedMessages: this.#log.malformed,
      sequenceGaps: this.sequenceGaps,
      dtmf: this.dtmf,
      dtmfDropped: this.dtmfDropped,
      status: this.status,
      agent: this.agent ?? null,
      rtp: this.#transport.mediaStats?.() ?? null,
      pauses: this.#pauses.records,
    };
  }
}

export interface CallSnapshot {
  readonly callSid: string;
  readonly ingress: string;
  readonly streamSid: string;
  readonly accountSid: string | null;
  readonly participants: readonly Participant[];
  readonly mode: string;
  readonly bidirectional: boolean;
  readonly state: CallState;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly endReason: string | null;
  readonly closeCode: number | null;
  readonly durationSeconds: number;
  readonly customParameters: Readonly<Record<string, string>>;
  readonly legs: readonly LegStats[];
  readonly malformedMessages: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  readonly sequenceGaps: number;
  readonly dtmf: readonly DtmfRecord[];
  readonly dtmfDropped: number;
  readonly status: readonly StatusRecord[];
  /** Spans when recording and transcription were paused (POST /v1/calls/:callSid/pause). */
  readonly pauses?: readonly PauseRecord[];
  /** Agent calls: turns with their latency, barge-ins, actions. */
  readonly agent: AgentSummary | null;
  /** SIP and SIPREC: per RTP stream, packets, loss, jitter, refused packets. */
  readonly rtp: readonly object[] | null;
}
