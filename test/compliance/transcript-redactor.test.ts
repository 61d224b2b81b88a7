import { describe, expect, it } from 'vitest';
import type { FinalEvent, PartialEvent, TranscriptEvent } from '../../src/asr/transcript-event.js';
import { ENTITY_KINDS, type EntityKind } from '../../src/compliance/find-entities.js';
import { TranscriptRedactor } from '../../src/compliance/transcript-redactor.js';
import { ManualClock } from '../helpers/manual-clock.js';

const ALL = { kinds: new Set(ENTITY_KINDS), holdMs: 2000 };
/** Without emails: partials then show every word but a number still being read. */
const NO_EMAIL = { kinds: new Set(ENTITY_KINDS.filter((k) => k !== 'email')), holdMs: 2000 };

function final(utteranceId: number, text: string, startMs: number, leg = 'caller'): FinalEvent {
  const tokens = text.split(' ');
  return {
    type: 'final',
    leg,
    utteranceId,
    text,
    startMs,
    endMs: startMs + tokens.length * 300,
    words: tokens.map((word, i) => ({ word, startMs: startMs + i * 300, endMs: startMs + i * 300 + 250 })),
    recovered: false,
    engine: 'test',
  };
}

function partial(utteranceId: number, text: string, startMs: number, leg = 'caller'): PartialEvent {
  return { type: 'partial', leg, utteranceId, text, startMs, audioMs: startMs + 1000 };
}

function setup(policy: { kinds: ReadonlySet<EntityKind>; holdMs: number } = NO_EMAIL) {
  const clock = new ManualClock();
  const out: TranscriptEvent[] = [];
  const redactor = new TranscriptRedactor(policy, (e) => out.push(e), clock);
  return { clock, out, redactor };
}

const texts = (events: TranscriptEvent[]) => events.map((e) => (e.type === 'error' ? e.message : e.text));

describe('TranscriptRedactor: redaction before anything is kept or sent', () => {
  it('a card in a final becomes [CARD_NUMBER] in the text and one word spanning its times', async () => {
    const { clock, out, redactor } = setup();
    redactor.push(final(1, 'my card is 4111 1111 1111 1111 thanks', 0));
    expect(texts(out)).toEqual(['my card is [CARD_NUMBER] thanks']);
    const words = (out[0] as FinalEvent).words;
    expect(words.map((w) => w.word)).toEqual(['my', 'card', 'is', '[CARD_NUMBER]', 'thanks']);
    expect(words[3]).toEqual({ word: '[CARD_NUMBER]', startMs: 900, endMs: 2050 });
    expect(clock.pending).toBe(0);
  });

  it('a partial shows the words before a number still being read, never its digits', () => {
    const { out, redactor } = setup();
    redactor.push(partial(1, 'my card is four one one one', 0));
    redactor.push(partial(1, 'my card is four one one one one one one one one', 0));
    redactor.push(
      partial(1, 'my card is four one one one one one one one one one one one one one one one thanks', 0),
    );
    expect(texts(out)).toEqual(['my card is', 'my card is', 'my card is [CARD_NUMBER] thanks']);
  });

  it('a number read across two utterances is one card: the first final waits for the second', async () => {
    const { clock, out, redactor } = setup();
    redactor.push(final(1, 'the number is 4111 1111', 0));
    expect(out).toEqual([]); // held: it ends in digits
    redactor.push(partial(2, '1111', 3000));
    expect(texts(out)).toEqual(['']);
    redactor.push(final(2, '1111 1111 okay', 3000));
    expect(texts(out)).toEqual(['', 'the number is [CARD_NUMBER]', '[CARD_NUMBER] okay']);
    expect(clock.pending).toBe(0);
  });

  it('while the next utterance goes on with digits, the held final waits for its final, however long it takes', async () => {
    const { clock, out, redactor } = setup();
    redactor.push(partial(2, '', 3000)); // the next utterance began before this one's final came
    redactor.push(final(1, 'the number is 4111 1111', 0));
    for (let i = 0; i < 10; i++) {
      await clock.advance(500); // 5 s in all: past REDACT_HOLD_MS, but the number is still being read
      redactor.push(partial(2, '1111 1111', 3000));
    }
    expect(out.filter((e) => e.type === 'final')).toEqual([]);
    redactor.push(final(2, '1111 1111', 3000));
    expect(texts(out.filter((e) => e.type === 'final'))).toEqual([
      'the number is [CARD_NUMBER]',
      '[CARD_NUMBER]',
    ]);
    expect(texts(out.filter((e) => e.type === 'partial'))).not.toContain('1111 1111');
  });

  it('a held final goes out after REDACT_HOLD_MS when nothing follows, and at once when the next words are not digits', async () => {
    const { clock, out, redactor } = setup();
    redactor.push(final(1, 'I am 42', 0));
    await clock.advance(1999);
    expect(out).toEqual([]);
    await clock.advance(1);
    expect(texts(out)).toEqual(['I am 42']);
    redactor.push(final(2, 'room 12', 5000));
    redactor.push(partial(3, 'and then', 8000));
    expect(texts(out)).toEqual(['I am 42', 'room 12', 'and then']);
  });

  it('the CVV and expiry after a card are caught by context, even in later utterances and on the other leg', () => {
    const { out, redactor } = setup();
    redactor.push(final(1, 'four one one one one one one one one one one one one one one one.', 0));
    redactor.push(final(1, 'And the expiry date?', 6000, 'agent'));
    redactor.push(final(2, 'Twelve twenty six.', 8000));
    redactor.push(final(2, 'The three digits on the back?', 10000, 'agent'));
    redactor.push(final(3, 'Seven three seven.', 12000));
    redactor.flush();
    expect(texts(out)).toEqual([
      '[CARD_NUMBER].',
      'And the expiry date?',
      '[EXPIRY].',
      'The three digits on the back?',
      '[CVV].',
    ]);
  });

  it('with emails redacted, a partial holds its last word back (an address is said before its "at")', () => {
    const { out, redactor } = setup(ALL);
    redactor.push(partial(1, 'write to ana', 0));
    redactor.push(partial(1, 'write to ana dot lopez at', 0));
    redactor.push(partial(1, 'write to ana dot lopez at example dot com thanks', 0));
    redactor.push(final(1, 'write to ana dot lopez at example dot com thanks', 0));
    // Partials hold an address back until eight words after it; the final shows all.
    expect(texts(out)).toEqual(['write to', 'write to', 'write to', 'write to [EMAIL] thanks']);
  });

  it('flush at the end of the call releases what is held; errors pass through', () => {
    const { out, redactor } = setup();
    redactor.push(final(1, 'my number is 555 0134 2276', 0));
    redactor.push({ type: 'error', leg: 'caller', code: 'engine_error', message: 'x', recoverable: true });
    redactor.flush();
    expect(texts(out)).toEqual(['x', 'my number is [PHONE]']);
  });

  it('after flush, a late event is still redacted (before, it passed in clear), and a final ending in digits goes out at once', () => {
    const { clock, out, redactor } = setup();
    redactor.flush();
    redactor.push(partial(1, 'card 4111 1111 1111 1111 ok', 0));
    redactor.push(final(1, 'card 4111 1111 1111 1111 ok', 0));
    redactor.push(final(2, 'my account is 4111 1111', 5_000));
    expect(texts(out)).toEqual(['card [CARD_NUMBER] ok', 'card [CARD_NUMBER] ok', 'my account is [PHONE]']);
    expect(clock.pending).toBe(0);
  });
});
