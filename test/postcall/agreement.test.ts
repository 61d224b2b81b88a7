import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_WER_WORDS,
  normalizedWords,
  transcriptAgreement,
  wordErrorRate,
} from '../../src/postcall/agreement.js';

/** A fixed seed: the same inputs every run (a failure prints its path to replay it). */
const SEED = 18;

/** Textbook Levenshtein over words, the whole matrix: what the one-row version must agree with. */
function naiveDistance(ref: readonly string[], hyp: readonly string[]): number {
  const d = Array.from({ length: ref.length + 1 }, (_, i) =>
    Array.from({ length: hyp.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= ref.length; i++)
    for (let j = 1; j <= hyp.length; j++)
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1),
      );
  return d[ref.length][hyp.length];
}

const words = (n: number, word = (i: number) => `w${i}`) =>
  Array.from({ length: n }, (_, i) => word(i)).join(' ');

describe('wordErrorRate', () => {
  it('is 0 for the same words', () => {
    expect(wordErrorRate('the cat sat down', 'the cat sat down')).toEqual({
      wer: 0,
      referenceWords: 4,
      substitutions: 0,
      deletions: 0,
      insertions: 0,
      truncated: false,
    });
  });

  it('counts one substitution in four words as 0.25', () => {
    expect(wordErrorRate('the cat sat down', 'the cat sat town')).toMatchObject({
      wer: 0.25,
      substitutions: 1,
    });
  });

  it('counts insertions and deletions, whichever side is longer', () => {
    expect(wordErrorRate('a b c', 'a x b c')).toMatchObject({
      insertions: 1,
      deletions: 0,
      substitutions: 0,
    });
    expect(wordErrorRate('a b c', 'a x b c').wer).toBeCloseTo(1 / 3);
    expect(wordErrorRate('a b c d', 'a d')).toMatchObject({ wer: 0.5, deletions: 2, insertions: 0 });
    expect(wordErrorRate('a b', 'x a b y z')).toMatchObject({ wer: 1.5, insertions: 3, deletions: 0 });
    expect(wordErrorRate('hello there', '')).toMatchObject({ wer: 1, deletions: 2 });
  });

  it('is null when the reference has no words, whatever the hypothesis', () => {
    expect(wordErrorRate('', '')).toMatchObject({ wer: null, referenceWords: 0, insertions: 0 });
    expect(wordErrorRate(' ... !? ', 'hello world')).toMatchObject({
      wer: null,
      referenceWords: 0,
      insertions: 2,
    });
  });

  it('agrees with the full-matrix distance, and its edits add up, for any word lists', () => {
    const list = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 14 });
    fc.assert(
      fc.property(list, list, (ref, hyp) => {
        const rate = wordErrorRate(ref.join(' '), hyp.join(' '));
        const edits = rate.substitutions + rate.deletions + rate.insertions;
        expect(edits).toBe(naiveDistance(ref, hyp));
        // Matched + substituted + deleted is the reference; matched + substituted + inserted the hypothesis.
        expect(ref.length - rate.deletions + rate.insertions).toBe(hyp.length);
        expect(rate.wer).toBe(ref.length === 0 ? null : edits / ref.length);
        // Swapping sides swaps deletions and insertions.
        const back = wordErrorRate(hyp.join(' '), ref.join(' '));
        expect(back.substitutions + back.deletions + back.insertions).toBe(edits);
      }),
      { numRuns: 500, seed: SEED },
    );
  });
});

describe('normalization', () => {
  it('ignores case and punctuation', () => {
    expect(wordErrorRate('Hello, World! How are you?', 'hello world how are you')).toMatchObject({ wer: 0 });
    expect(normalizedWords('Wait... what?! (Really) — "yes"')).toEqual(['wait', 'what', 'really', 'yes']);
  });

  it('keeps apostrophes inside words, in either form, and drops them outside', () => {
    expect(normalizedWords("Don't 'quote' me, it’s fine")).toEqual(["don't", 'quote', 'me', "it's", 'fine']);
    expect(wordErrorRate("don't", 'don’t').wer).toBe(0);
    expect(wordErrorRate("don't", 'dont').wer).toBe(1);
  });

  it('keeps numbers as written, with their separators', () => {
    expect(normalizedWords('It costs 3.5 euros, or 1,000 at 10:30.')).toEqual([
      'it',
      'costs',
      '3.5',
      'euros',
      'or',
      '1,000',
      'at',
      '10:30',
    ]);
    expect(wordErrorRate('three', '3')).toMatchObject({ wer: 1, substitutions: 1 });
  });

  it('keeps Unicode letters, marks and digits, and folds compatibility forms', () => {
    expect(normalizedWords('Ça va? Très bien.')).toEqual(['ça', 'va', 'très', 'bien']);
    expect(normalizedWords('नमस्ते दुनिया')).toEqual(['नमस्ते', 'दुनिया']);
    expect(normalizedWords('ＡＢＣ１２３')).toEqual(['abc123']);
    expect(normalizedWords('Привет, МИР')).toEqual(['привет', 'мир']);
    expect(normalizedWords('well-known')).toEqual(['well', 'known']);
    // Written without spaces: a word per character.
    expect(normalizedWords('東京です')).toEqual(['東', '京', 'で', 'す']);
  });
});

describe('transcriptAgreement', () => {
  it('rates each speaker against the refined transcript, and all of them as edits over reference words', () => {
    const live = [
      { speaker: 'caller', text: 'hello there' },
      { speaker: 'agent', text: 'how can i help' },
      { speaker: 'caller', text: 'my bill is wrong' },
    ];
    const refined = [
      { speaker: 'caller', text: 'Hello there.' },
      { speaker: 'agent', text: 'How can I help you?' },
      { speaker: 'caller', text: 'My bill is wrong.' },
    ];
    expect(transcriptAgreement(live, refined)).toEqual({
      wer: 1 / 11,
      perSpeaker: { agent: 0.2, caller: 0 },
      referenceWords: 11,
    });
  });

  it('is null for a speaker the refined transcript has no words of, whose live words still count', () => {
    const agreement = transcriptAgreement(
      [
        { speaker: 'caller', text: 'yes' },
        { speaker: 'agent', text: 'one two' },
      ],
      [{ speaker: 'caller', text: 'yes' }],
    );
    expect(agreement).toEqual({ wer: 2, perSpeaker: { agent: null, caller: 0 }, referenceWords: 1 });
    expect(transcriptAgreement([{ speaker: 'caller', text: 'hi' }], [])).toEqual({
      wer: null,
      perSpeaker: { caller: null },
      referenceWords: 0,
    });
    expect(transcriptAgreement([], [])).toEqual({ wer: null, perSpeaker: {}, referenceWords: 0 });
  });

  it('takes any speaker name as a plain key', () => {
    const agreement = transcriptAgreement(
      [{ speaker: '__proto__', text: 'a b' }],
      [{ speaker: '__proto__', text: 'a c' }],
    );
    expect(Object.keys(agreement.perSpeaker)).toEqual(['__proto__']);
    expect(agreement.perSpeaker.__proto__).toBe(0.5);
  });
});

describe('the cap', () => {
  it(`compares at most ${MAX_WER_WORDS} words of each side, and says so`, () => {
    const long = wordErrorRate(words(MAX_WER_WORDS + 5000), 'w0 w1 w2');
    expect(long).toMatchObject({
      referenceWords: MAX_WER_WORDS,
      deletions: MAX_WER_WORDS - 3,
      truncated: true,
    });
    const chatty = wordErrorRate('w0 w1', words(MAX_WER_WORDS + 10));
    expect(chatty).toMatchObject({ referenceWords: 2, insertions: MAX_WER_WORDS - 2, truncated: true });
    expect(wordErrorRate(words(MAX_WER_WORDS), 'w0').truncated).toBe(false);
  });

  it('holds per speaker in the agreement too', () => {
    const refined = [{ speaker: 'caller', text: words(MAX_WER_WORDS + 1) }];
    const live = [{ speaker: 'caller', text: 'w0' }];
    expect(transcriptAgreement(live, refined)).toMatchObject({
      referenceWords: MAX_WER_WORDS,
      wer: (MAX_WER_WORDS - 1) / MAX_WER_WORDS,
    });
  });
});
