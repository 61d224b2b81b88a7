import { describe, expect, it } from 'vitest';
import { redactRefined } from '../../src/postcall/refined-redaction.js';
import type { RefinedUtterance } from '../../src/postcall/refined-transcript.js';

const words = (text: string, from: number) =>
  text.split(' ').map((word, i) => ({ word, startMs: from + i * 300, endMs: from + i * 300 + 250 }));

function utterance(speaker: string, text: string, startMs: number): RefinedUtterance {
  const w = words(text, startMs);
  return {
    speaker,
    subSpeaker: `${speaker}.1`,
    text,
    startMs,
    endMs: (w.at(-1)?.endMs ?? startMs) + 0,
    words: w,
  };
}

describe('redacting the refined transcript', () => {
  it('masks a card number read across two utterances, in text and words, as the live transcript is', () => {
    const refined = [
      utterance('agent', 'what is your card number', 0),
      utterance('caller', 'it is 4111 1111', 2_000),
      utterance('caller', '1111 1111 thanks', 4_000),
      utterance('agent', 'and the CVV', 6_000),
      utterance('caller', '737', 7_000),
    ];
    const out = redactRefined(refined, { kinds: new Set(['card', 'cvv']), holdMs: 2_000 });
    expect(out.map((u) => u.text)).toEqual([
      'what is your card number',
      'it is [CARD_NUMBER]',
      '[CARD_NUMBER] thanks',
      'and the CVV',
      '[CVV]',
    ]);
    const said = JSON.stringify(out);
    for (const secret of ['4111', '1111', '737']) expect(said).not.toContain(secret);
    // The placeholder word spans the digits' times; everything else is as it was.
    expect(out[1]?.words.at(-1)).toEqual({ word: '[CARD_NUMBER]', startMs: 2_600, endMs: 3_150 });
    expect(out.map((u) => [u.speaker, u.subSpeaker, u.startMs])).toEqual(
      refined.map((u) => [u.speaker, u.subSpeaker, u.startMs]),
    );
  });

  it('joins the halves of a number the engine gave to two voices of one channel', () => {
    const refined = [
      { ...utterance('caller', 'the number is 4111 1111', 0), subSpeaker: 'caller.1' },
      { ...utterance('caller', '1111 1111 thanks', 2_000), subSpeaker: 'caller.2' },
    ];
    const out = redactRefined(refined, { kinds: new Set(['card', 'phone']), holdMs: 2_000 });
    expect(out.map((u) => u.text)).toEqual(['the number is [CARD_NUMBER]', '[CARD_NUMBER] thanks']);
    expect(out.map((u) => u.subSpeaker)).toEqual(['caller.1', 'caller.2']);
  });

  it('leaves a transcript with nothing to redact exactly as it was', () => {
    const refined = [utterance('caller', 'hello there', 0), utterance('agent', 'good morning', 1_000)];
    expect(redactRefined(refined, { kinds: new Set(['card']), holdMs: 2_000 })).toEqual(refined);
  });
});
