import { describe, expect, it } from 'vitest';
import { normalizeWords, PhraseSet } from '../../src/alerts/phrase-match.js';

const find = (phrases: string[], text: string) => new PhraseSet(phrases).find(normalizeWords(text));

describe('normalizeWords', () => {
  it('drops case, punctuation and spacing, and keeps apostrophes inside their word', () => {
    expect(normalizeWords('  Cancel,   my ACCOUNT!  ')).toEqual(['cancel', 'my', 'account']);
    expect(normalizeWords('I don’t — want it...')).toEqual(['i', 'dont', 'want', 'it']);
    expect(normalizeWords('e-mail: 42.5')).toEqual(['e', 'mail', '42', '5']);
  });

  it('folds compatibility forms (NFKC) and keeps accented letters whole', () => {
    expect(normalizeWords('ﬁne ＡＢＣ')).toEqual(['fine', 'abc']);
    expect(normalizeWords('Zu\u0308rich, ZÜRICH')).toEqual(['zürich', 'zürich']);
    expect(normalizeWords('')).toEqual([]);
    expect(normalizeWords('?!… ,')).toEqual([]);
  });
});

describe('PhraseSet', () => {
  it('finds a phrase whatever the case and punctuation around and inside it', () => {
    expect(find(['cancel my account'], 'Well... Cancel, my account!')).toBe('cancel my account');
    expect(find(['Don’t record'], "please don't RECORD this")).toBe('Don’t record');
  });

  it('matches whole words only: no phrase inside a longer word, none across a word boundary', () => {
    expect(find(['cancel'], 'I asked about the cancellation fee')).toBeNull();
    expect(find(['account'], 'both accounts')).toBeNull();
    expect(find(['my account'], 'it is myaccount dot com')).toBeNull();
    expect(find(['cancel my account'], 'cancel, um, my account')).toBeNull();
    expect(find(['cancel my account'], 'cancel my acc')).toBeNull();
  });

  it('reports the earliest phrase in the text, as configured; at one position the longest', () => {
    expect(find(['refund', 'lawyer'], 'my lawyer wants a refund')).toBe('lawyer');
    expect(find(['cancel', 'cancel my account'], 'cancel my account now')).toBe('cancel my account');
    expect(find(['cancel', 'cancel my account'], 'cancel my order')).toBe('cancel');
  });

  it('leaves out phrases with no words and keeps phrases with the same words once', () => {
    const set = new PhraseSet(['!!!', 'Refund', 'refund.', 'REFUND']);
    expect(set.size).toBe(1);
    expect(set.find(normalizeWords('a refund please'))).toBe('Refund');
    expect(new PhraseSet([]).find(normalizeWords('anything'))).toBeNull();
  });
});
