import type { FinalEvent, PartialEvent, TranscriptEvent } from '../asr/transcript-event.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { AlertConfig, AlertRule, AlertSeverity, DisclosureRule, PhraseRule } from './alert-rules.js';
import { normalizeWords } from './phrase-match.js';

/** One raised alert (the data of a `transcript.alert` webhook event). */
export interface TranscriptAlert {
  readonly ruleId: string;
  readonly kind: 'phrase' | 'missed_disclosure';
  readonly severity: AlertSeverity;
  /** Null for a missed disclosure. */
  readonly speaker: string | null;
  /** The phrase as configured, or the regex as `/source/flags`; null for a missed disclosure. */
  readonly phrase: string | null;
  /** The utterance text so far; '' for a missed disclosure. */
  readonly text: string;
  readonly utteranceId: number | null;
  /** Call-clock ms: the partial's audioMs, the final's endMs, or the disclosure's deadline. */
  readonly atMs: number;
  readonly source: 'partial' | 'final' | 'deadline';
}

/** Where a disclosure rule stands, for the call's summary. `pending`: the call ended before its deadline. */
export interface DisclosureOutcome {
  readonly ruleId: string;
  readonly status: 'pending' | 'satisfied' | 'missed';
  /** Who said it and what, when satisfied. */
  readonly speaker: string | null;
  readonly phrase: string | null;
  /** Call-clock ms it was said (satisfied) or its deadline (missed); null while pending. */
  readonly atMs: number | null;
}

/**
 * Utterances with a fired rule tracked at once. An utterance's entry goes when its final arrives,
 * so this only bounds a call whose finals never come (engine failures); the oldest goes first.
 */
const MAX_TRACKED_UTTERANCES = 64;

interface Disclosure {
  readonly rule: DisclosureRule;
  outcome: DisclosureOutcome;
  timer: TimerHandle | undefined;
}

/**
 * Live alerts for one call: each partial and final is checked against the rules as it arrives, so
 * an alert comes within the latency of the first partial that holds its phrase. A rule fires at
 * most once per (rule, speaker, utterance): the growing partials and the final of an utterance
 * that already fired it raise nothing more. Disclosure deadlines run on `clock` (the call scope's
 * timers, so they die with the call); a disclosure said in time raises nothing, and its outcome
 * is kept for the summary (`disclosures`).
 */
export class CallAlerts {
  readonly #phraseRules: readonly PhraseRule[];
  readonly #disclosures: readonly Disclosure[];
  readonly #clock: Clock;
  readonly #emit: (alert: TranscriptAlert) => void;
  /** `leg \0 utteranceId` → ids of the rules that fired on that utterance. */
  readonly #fired = new Map<string, Set<string>>();
  #started = false;
  #closed = false;

  constructor(config: AlertConfig, clock: Clock, emit: (alert: TranscriptAlert) => void) {
    this.#clock = clock;
    this.#emit = emit;
    this.#phraseRules = config.rules.filter((r): r is PhraseRule => r.kind === 'phrase');
    this.#disclosures = config.rules
      .filter((r): r is DisclosureRule => r.kind === 'disclosure')
      .map((rule) => ({ rule, outcome: pending(rule.id), timer: undefined }));
  }

  /**
   * Sets the disclosure deadlines. `callClockMs`: where the call clock is now (0 when the call has
   * just started), so a deadline stays `withinMs` after the call's start. Once; not after close.
   */
  start(callClockMs = 0): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const d of this.#disclosures) {
      if (d.outcome.status !== 'pending') continue;
      d.timer = this.#clock.setTimeout(() => this.#miss(d), Math.max(0, d.rule.withinMs - callClockMs));
    }
  }

  /** A partial or final of any leg (errors are ignored). Never throws on what the text holds. */
  push(event: TranscriptEvent): void {
    if (this.#closed || event.type === 'error') return;
    let words: string[] | undefined;
    const wordsOf = () => {
      words ??= normalizeWords(event.text);
      return words;
    };
    for (const d of this.#disclosures) {
      if (d.outcome.status === 'pending' && hears(d.rule, event.leg)) this.#disclose(d, event, wordsOf());
    }
    const key = `${event.leg}\0${event.utteranceId}`;
    for (const rule of this.#phraseRules) {
      if (this.#closed) return; // an emit may end the call
      if (!hears(rule, event.leg) || this.#fired.get(key)?.has(rule.id)) continue;
      const phrase = matchPhraseRule(rule, event.text, wordsOf);
      if (phrase !== null) this.#raise(rule, event, key, phrase);
    }
    if (event.type === 'final') this.#fired.delete(key);
  }

  /** Clears the deadlines and forgets the utterances; nothing fires after. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#disclosures) this.#clearTimer(d);
    this.#fired.clear();
  }

  /** Every disclosure rule's outcome so far, in rule order. */
  get disclosures(): readonly DisclosureOutcome[] {
    return this.#disclosures.map((d) => d.outcome);
  }

  /** Utterances whose fired rules are being remembered (bounded; for tests and metrics). */
  get trackedUtterances(): number {
    return this.#fired.size;
  }

  #raise(rule: PhraseRule, event: PartialEvent | FinalEvent, key: string, phrase: string): void {
    let fired = this.#fired.get(key);
    if (!fired) {
      if (this.#fired.size >= MAX_TRACKED_UTTERANCES)
        this.#fired.delete(this.#fired.keys().next().value as string);
      fired = new Set();
      this.#fired.set(key, fired);
    }
    fired.add(rule.id);
    this.#emit({
      ruleId: rule.id,
      kind: 'phrase',
      severity: rule.severity,
      speaker: event.leg,
      phrase,
      text: event.text,
      utteranceId: event.utteranceId,
      atMs: eventAtMs(event),
      source: event.type,
    });
  }

  #disclose(d: Disclosure, event: PartialEvent | FinalEvent, words: readonly string[]): void {
    const phrase = d.rule.phrases.find(words);
    if (phrase === null) return;
    this.#clearTimer(d);
    d.outcome = {
      ruleId: d.rule.id,
      status: 'satisfied',
      speaker: event.leg,
      phrase,
      atMs: eventAtMs(event),
    };
  }

  #miss(d: Disclosure): void {
    d.timer = undefined;
    if (this.#closed || d.outcome.status !== 'pending') return;
    const atMs = d.rule.withinMs;
    d.outcome = { ruleId: d.rule.id, status: 'missed', speaker: null, phrase: null, atMs };
    this.#emit({
      ruleId: d.rule.id,
      kind: 'missed_disclosure',
      severity: d.rule.severity,
      speaker: null,
      phrase: null,
      text: '',
      utteranceId: null,
      atMs,
      source: 'deadline',
    });
  }

  #clearTimer(d: Disclosure): void {
    this.#clock.clearTimeout(d.timer);
    d.timer = undefined;
  }
}

function matchPhraseRule(rule: PhraseRule, text: string, wordsOf: () => readonly string[]): string | null {
  if (rule.phrases.size > 0) {
    const phrase = rule.phrases.find(wordsOf());
    if (phrase !== null) return phrase;
  }
  return rule.regex?.test(text) ? String(rule.regex) : null;
}

function hears(rule: AlertRule, speaker: string): boolean {
  return rule.speakers === undefined || rule.speakers.includes(speaker);
}

/** The call-clock time the text reflects: a partial's audioMs is already start + audio decoded. */
function eventAtMs(event: PartialEvent | FinalEvent): number {
  return event.type === 'partial' ? event.audioMs : event.endMs;
}

function pending(ruleId: string): DisclosureOutcome {
  return { ruleId, status: 'pending', speaker: null, phrase: null, atMs: null };
}
