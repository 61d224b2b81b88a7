/**
 * Whole-word phrase matching on transcript text. Text and phrases go through the same
 * normalization, so case, punctuation and spacing never matter: "cancel my account" is found in
 * "Cancel, my account!", while "cancel" is not found in "cancellation" (words are compared whole).
 */

// Dropped rather than split on, so "don't", "don’t" and "dont" are the same word.
const APOSTROPHES = /['\u2019\u02bc]/g;
// Anything that is not part of a word separates words (combining marks stay with their letter).
const NON_WORD = /[^\p{L}\p{N}\p{M}]+/u;

/** The words of `text`: NFKC, lower case, apostrophes dropped, split at everything else. */
export function normalizeWords(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().replace(APOSTROPHES, '').split(NON_WORD).filter(Boolean);
}

interface Phrase {
  /** As configured: what an alert reports. */
  readonly phrase: string;
  readonly words: readonly string[];
}

/**
 * A rule's phrases, indexed by their first word, so a search costs one map lookup per word of the
 * text rather than one comparison per phrase. Phrases with no words are left out (the rules file
 * check reports them); phrases with the same words are kept once.
 */
export class PhraseSet {
  readonly #byFirstWord = new Map<string, Phrase[]>();
  readonly size: number;

  constructor(phrases: readonly string[]) {
    const seen = new Set<string>();
    for (const phrase of phrases) {
      const words = normalizeWords(phrase);
      const key = words.join(' ');
      if (words.length === 0 || seen.has(key)) continue;
      seen.add(key);
      const first = words[0];
      const list = this.#byFirstWord.get(first) ?? [];
      list.push({ phrase, words });
      // Longest first: where two phrases start at the same word, the fuller one is reported.
      list.sort((a, b) => b.words.length - a.words.length);
      this.#byFirstWord.set(first, list);
    }
    this.size = seen.size;
    Object.freeze(this);
  }

  /** The phrase (as configured) that occurs earliest in `words`, or null. */
  find(words: readonly string[]): string | null {
    for (let at = 0; at < words.length; at++) {
      const candidates = this.#byFirstWord.get(words[at]);
      if (!candidates) continue;
      for (const candidate of candidates) {
        if (startsAt(words, at, candidate.words)) return candidate.phrase;
      }
    }
    return null;
  }
}

function startsAt(words: readonly string[], at: number, phrase: readonly string[]): boolean {
  if (at + phrase.length > words.length) return false;
  for (let i = 1; i < phrase.length; i++) if (words[at + i] !== phrase[i]) return false;
  return true;
}
