import type { ErrorEvent, FinalEvent, PartialEvent, TranscriptEvent } from '../asr/transcript-event.js';
import type { Clock } from '../clock.js';
import { type RedactionPolicy, TranscriptRedactor } from '../compliance/transcript-redactor.js';

/** A transcript event as stored and streamed: numbered per call, so SSE clients can resume. */
export type SequencedEvent = TranscriptEvent & { readonly seq: number; readonly at: string };

export type TranscriptListener = (event: SequencedEvent | { readonly type: 'end' }) => void;

const MAX_ERRORS = 100;

/**
 * One call's transcript: finals of every leg merged on the call clock, the current partial of each
 * leg, and engine errors. Listeners (SSE clients) get every event as it happens, and `end` once
 * the call is over and every leg's last final is in.
 */
export class CallTranscript {
  readonly #finals: (FinalEvent & { seq: number; at: string })[] = [];
  readonly #partials = new Map<string, PartialEvent & { seq: number; at: string }>();
  readonly #errors: (ErrorEvent & { seq: number; at: string })[] = [];
  readonly #listeners = new Set<TranscriptListener>();
  readonly #wallNow: () => number;
  #seq = 0;
  #complete = false;
  readonly #redactor: TranscriptRedactor | undefined;

  /**
   * `wallNow`: what each event's `at` is stamped with (the call's clock). With `redaction`, every
   * event is redacted before it is kept or anyone hears of it (its timers run on `clock`).
   */
  constructor(wallNow: () => number = Date.now, redaction?: { policy: RedactionPolicy; clock: Clock }) {
    this.#wallNow = wallNow;
    this.#redactor = redaction
      ? new TranscriptRedactor(redaction.policy, (event) => this.#accept(event), redaction.clock)
      : undefined;
  }

  /** A transcript rebuilt from stored events (their own seq and time), e.g. of a call held elsewhere. */
  static fromEvents(events: readonly SequencedEvent[], complete: boolean): CallTranscript {
    const transcript = new CallTranscript();
    for (const event of events) transcript.#place(event);
    transcript.#seq = events.reduce((max, e) => Math.max(max, e.seq), 0);
    transcript.#complete = complete;
    if (complete) transcript.#partials.clear();
    return transcript;
  }

  get complete(): boolean {
    return this.#complete;
  }

  /**
   * The call is over and everything that wrote into it has settled (its Call calls this once its
   * scope has closed: every leg's transcriber and the agent are deferred on that scope).
   */
  end(): void {
    if (this.#complete) return;
    this.#redactor?.flush();
    this.#complete = true;
    this.#partials.clear();
    for (const listener of this.#listeners) listener({ type: 'end' });
    this.#listeners.clear();
  }

  /** Start of `leg`'s final that redaction holds back (a number that may go on), or undefined. */
  heldFromMs(leg: string): number | undefined {
    return this.#redactor?.heldFromMs(leg);
  }

  /**
   * Every leg's last words are in (the transcribers have finished): finals held back for redaction
   * go out now, so that what redacts the recording hears of them before it closes.
   */
  settle(): void {
    this.#redactor?.flush();
  }

  add(event: TranscriptEvent): void {
    if (this.#redactor) this.#redactor.push(event);
    else this.#accept(event);
  }

  #accept(event: TranscriptEvent): void {
    const stored = { ...event, seq: ++this.#seq, at: new Date(this.#wallNow()).toISOString() };
    this.#place(stored);
    for (const listener of this.#listeners) listener(stored);
  }

  #place(stored: SequencedEvent): void {
    if (stored.type === 'partial') this.#partials.set(stored.leg, stored);
    else if (stored.type === 'final') {
      // A held-back final can come after its leg's next partial: that one stays.
      const partial = this.#partials.get(stored.leg);
      if (partial && partial.utteranceId <= stored.utteranceId) this.#partials.delete(stored.leg);
      // Legs finish out of order; keep the merged list sorted by start on the call clock.
      let i = this.#finals.length;
      while (i > 0 && this.#finals[i - 1].startMs > stored.startMs) i--;
      this.#finals.splice(i, 0, stored);
    } else {
      this.#errors.push(stored);
      if (this.#errors.length > MAX_ERRORS) this.#errors.shift();
    }
  }

  /** Finals and errors after `seq` in the order they happened, then the current partials. */
  replay(afterSeq: number): SequencedEvent[] {
    const events: SequencedEvent[] = [...this.#finals, ...this.#errors].filter((e) => e.seq > afterSeq);
    events.sort((a, b) => a.seq - b.seq);
    for (const partial of this.#partials.values()) if (partial.seq > afterSeq) events.push(partial);
    return events;
  }

  subscribe(listener: TranscriptListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot() {
    return {
      complete: this.#complete,
      utterances: this.#finals.map((f) => ({
        speaker: f.leg,
        text: f.text,
        startMs: f.startMs,
        endMs: f.endMs,
        words: f.words,
        recovered: f.recovered,
        ...(f.interrupted ? { interrupted: true } : {}),
        ...(f.delayed ? { delayed: true } : {}),
        ...(f.lagMs !== undefined ? { lagMs: f.lagMs } : {}),
        engine: f.engine,
        seq: f.seq,
      })),
      partials: [...this.#partials.values()].map((p) => ({
        speaker: p.leg,
        text: p.text,
        startMs: p.startMs,
        audioMs: p.audioMs,
        seq: p.seq,
      })),
      errors: this.#errors.map((e) => ({ speaker: e.leg, code: e.code, message: e.message, at: e.at })),
    };
  }
}
