import type { FinalEvent, PartialEvent, TranscriptEvent, Word } from '../asr/transcript-event.js';
import type { Clock, TimerHandle } from '../clock.js';
import { openRunStart } from './digit-runs.js';
import {
  applySpans,
  type EntityKind,
  findEntities,
  PLACEHOLDER,
  partialHoldFrom,
  type Span,
} from './find-entities.js';

/** After a card number, this long (call clock) a 3–4 digit run may be its CVV or expiry date. */
const CARD_CONTEXT_MS = 90_000;
/** Context words kept from the last final of the call (either leg). */
const CONTEXT_WORDS = 8;

export interface RedactionPolicy {
  readonly kinds: ReadonlySet<EntityKind>;
  /** How long a final that ends in digits waits for the next utterance (a number read on). */
  readonly holdMs: number;
}

interface Held {
  readonly event: FinalEvent;
  readonly tokens: string[];
  timer: TimerHandle;
}

const tokensOf = (text: string): string[] => text.split(/\s+/).filter(Boolean);

/**
 * Redacts a call's transcript events before anything stores or sends them. Each entity becomes a
 * typed placeholder ("[CARD_NUMBER]") in the text and in the words, one word spanning the entity's
 * times. A number still being said is held back: a partial shows the words before a trailing run
 * of digits, and a final that ends in digits waits up to `holdMs` for the leg's next utterance (and,
 * when that one goes on with digits, for its final), so that a card read across two utterances is
 * one number. Events go out in the order they are
 * released; a leg's held final goes out before anything later of that leg.
 */
export class TranscriptRedactor {
  readonly #policy: RedactionPolicy;
  readonly #emit: (event: TranscriptEvent) => void;
  readonly #clock: Clock;
  readonly #held = new Map<string, Held>();
  #lastCardEndMs = Number.NEGATIVE_INFINITY;
  #recent: string[] = [];
  #ended = false;

  constructor(policy: RedactionPolicy, emit: (event: TranscriptEvent) => void, clock: Clock) {
    this.#policy = policy;
    this.#emit = emit;
    this.#clock = clock;
  }

  push(event: TranscriptEvent): void {
    if (event.type === 'error') {
      this.#emit(event);
      return;
    }
    if (event.type === 'partial') this.#partial(event);
    else this.#final(event);
  }

  /** Call-clock start of `leg`'s final held back (it ends in digits), or undefined. */
  heldFromMs(leg: string): number | undefined {
    return this.#held.get(leg)?.event.startMs;
  }

  /** Releases every held final (the call is over); anything later is redacted, never held. */
  flush(): void {
    this.#ended = true;
    for (const leg of [...this.#held.keys()]) this.#release(leg);
  }

  #partial(event: PartialEvent): void {
    const held = this.#held.get(event.leg);
    const tokens = tokensOf(event.text);
    // An empty partial (the next utterance has begun, no words yet) does not yet say whether the number goes on.
    if (held && tokens.length > 0 && !continuesRun(tokens)) this.#release(event.leg);
    else if (held && tokens.length > 0) {
      // The number goes on in the utterance being spoken: wait for its final, however long it is.
      this.#clock.clearTimeout(held.timer);
      held.timer = this.#arm(event.leg);
    }
    const before = this.#held.get(event.leg)?.tokens ?? [];
    const all = [...before, ...tokens];
    const visible = Math.max(0, partialHoldFrom(all, this.#policy.kinds) - before.length);
    const { spans } = findEntities(
      all.slice(0, before.length + visible),
      this.#policy.kinds,
      this.#context(event.startMs),
    );
    const own = shift(spans, before.length, visible);
    this.#emit({ ...event, text: applySpans(tokens.slice(0, visible), own).join(' ') });
  }

  #final(event: FinalEvent): void {
    const held = this.#held.get(event.leg);
    const tokens = tokensOf(event.text);
    if (held && !continuesRun(tokens)) this.#release(event.leg);
    const joined = this.#held.get(event.leg);
    if (joined) {
      this.#clock.clearTimeout(joined.timer);
      this.#held.delete(event.leg);
      // One number across two utterances: find entities in both together, then split them again.
      const all = [...joined.tokens, ...tokens];
      const { spans, cardSeen } = findEntities(all, this.#policy.kinds, this.#context(joined.event.startMs));
      this.#emit(redactFinal(joined.event, joined.tokens, shift(spans, 0, joined.tokens.length)));
      this.#note(joined.event, joined.tokens, cardSeen);
      this.#settle(event, tokens, shift(spans, joined.tokens.length, tokens.length), cardSeen);
      return;
    }
    const { spans, cardSeen } = findEntities(tokens, this.#policy.kinds, this.#context(event.startMs));
    this.#settle(event, tokens, spans, cardSeen);
  }

  /** A final whose own spans are known: out now, or held while it ends in digits. */
  #settle(event: FinalEvent, tokens: string[], spans: Span[], cardSeen: boolean): void {
    if (this.#policy.holdMs > 0 && !this.#ended && mayContinue(tokens, spans)) {
      this.#held.set(event.leg, { event, tokens, timer: this.#arm(event.leg) });
      return;
    }
    this.#emit(redactFinal(event, tokens, spans));
    this.#note(event, tokens, cardSeen);
  }

  #arm(leg: string): TimerHandle {
    const timer = this.#clock.setTimeout(() => this.#release(leg), this.#policy.holdMs);
    timer.unref();
    return timer;
  }

  #release(leg: string): void {
    const held = this.#held.get(leg);
    if (!held) return;
    this.#held.delete(leg);
    this.#clock.clearTimeout(held.timer);
    const { spans, cardSeen } = findEntities(
      held.tokens,
      this.#policy.kinds,
      this.#context(held.event.startMs),
    );
    this.#emit(redactFinal(held.event, held.tokens, spans));
    this.#note(held.event, held.tokens, cardSeen);
  }

  #context(atMs: number) {
    return { afterCard: atMs - this.#lastCardEndMs <= CARD_CONTEXT_MS, before: this.#recent };
  }

  /** Keeps what later utterances are read against: when a card was said, and the last words. */
  #note(event: FinalEvent, tokens: string[], cardSeen: boolean): void {
    if (cardSeen) this.#lastCardEndMs = Math.max(this.#lastCardEndMs, event.endMs);
    this.#recent = tokens.slice(-CONTEXT_WORDS);
  }
}

/**
 * True when the utterance ends in a run of digits that is not an entity yet: the first part of a
 * card or account number that the next utterance may finish.
 */
function mayContinue(tokens: readonly string[], spans: readonly Span[]): boolean {
  const open = openRunStart(tokens);
  if (open === undefined) return false;
  // A phone number's worth of digits may still be the first half of a card.
  return !spans.some((s) => s.to >= open && s.kind !== 'phone');
}

/** True when `tokens` begin with digits (the held utterance's number goes on). */
function continuesRun(tokens: readonly string[]): boolean {
  return tokens.length > 0 && openRunStart(tokens.slice(0, 1)) !== undefined;
}

/** The spans that fall in tokens `offset`…`offset + length - 1`, relative to `offset` (clipped). */
function shift(spans: readonly Span[], offset: number, length: number): Span[] {
  return spans
    .filter((s) => s.to >= offset && s.from < offset + length)
    .map((s) => ({
      kind: s.kind,
      from: Math.max(0, s.from - offset),
      to: Math.min(length - 1, s.to - offset),
    }));
}

function redactFinal(event: FinalEvent, tokens: readonly string[], spans: readonly Span[]): FinalEvent {
  if (spans.length === 0) return event;
  const text = applySpans(tokens, spans).join(' ');
  // Words: the same spans when the words are the text's tokens (they are, from every engine);
  // otherwise one placeholder covers them all: safe rather than exact.
  const words =
    event.words.length === tokens.length
      ? redactWords(event.words, spans)
      : redactWords(event.words, [{ kind: spans[0].kind, from: 0, to: event.words.length - 1 }]);
  return { ...event, text, words };
}

function redactWords(words: readonly Word[], spans: readonly Span[]): Word[] {
  if (words.length === 0) return [];
  const out: Word[] = [];
  let at = 0;
  for (const span of spans) {
    out.push(...words.slice(at, span.from));
    const first = words[span.from];
    const last = words[span.to];
    const trailing = /[.,;:!?]+$/.exec(last.word)?.[0] ?? '';
    out.push({ word: PLACEHOLDER[span.kind] + trailing, startMs: first.startMs, endMs: last.endMs });
    at = span.to + 1;
  }
  out.push(...words.slice(at));
  return out;
}
