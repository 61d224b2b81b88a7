import type { TranscriptAgreement } from './refined-transcript.js';

/**
 * Words compared per side at most: Levenshtein time is the product of the two lengths and it runs
 * on the event loop beside live calls, so this bounds one comparison to 2.5·10⁷ cells (about
 * 0.1 s; 4·10⁸ took 1.5 s, measured). A speaker says some 9,000 words an hour, so the first half
 * hour or so of each speaker is compared; past it the result says `truncated`.
 */
export const MAX_WER_WORDS = 5_000;

export interface WordErrorRate {
  /** (substitutions + deletions + insertions) / referenceWords; null when the reference has no words. */
  readonly wer: number | null;
  /** Words of the reference compared (at most MAX_WER_WORDS). */
  readonly referenceWords: number;
  readonly substitutions: number;
  readonly deletions: number;
  readonly insertions: number;
  /** A side had more than MAX_WER_WORDS words, and only the first ones were compared. */
  readonly truncated: boolean;
}

// Han and kana are written without spaces: each of their characters counts as a word.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu;
// A word: letters, digits and marks (the vowel signs of Indic scripts are marks), with apostrophes
// inside it ("don't") and the separators of a number written with them ("3.5", "1,000", "10:30").
const WORD = /[\p{L}\p{N}\p{M}]+(?:(?:'|(?<=\p{N})[.,:](?=\p{N}))[\p{L}\p{N}\p{M}]+)*/gu;

/**
 * The words WER counts: NFKC (so full-width and compatibility forms match their plain ones), lower
 * case, punctuation dropped; numbers as written ("3" and "three" differ: both engines write
 * what they heard, and rewriting numbers is a guess).
 */
export function normalizedWords(text: string): string[] {
  const folded = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(UNSPACED, ' $& ');
  return folded.match(WORD) ?? [];
}

/** Word error rate of `hypothesis` against `reference` (the one taken as right). */
export function wordErrorRate(reference: string, hypothesis: string): WordErrorRate {
  return compareWords(normalizedWords(reference), normalizedWords(hypothesis));
}

function compareWords(reference: readonly string[], hypothesis: readonly string[]): WordErrorRate {
  const truncated = reference.length > MAX_WER_WORDS || hypothesis.length > MAX_WER_WORDS;
  const ref = reference.slice(0, MAX_WER_WORDS);
  const hyp = hypothesis.slice(0, MAX_WER_WORDS);
  const edits = editCounts(ref, hyp);
  const total = edits.substitutions + edits.deletions + edits.insertions;
  return {
    wer: ref.length === 0 ? null : total / ref.length,
    referenceWords: ref.length,
    ...edits,
    truncated,
  };
}

/**
 * Levenshtein over words, keeping one row of the shorter side (O(min(n, m)) memory) and, per cell,
 * the substitutions on its cheapest path (ties prefer the diagonal). Deletions and insertions
 * follow: on any path they sum to the distance less the substitutions, and differ by n − m.
 */
function editCounts(
  ref: readonly string[],
  hyp: readonly string[],
): { substitutions: number; deletions: number; insertions: number } {
  const ids = new Map<string, number>();
  const idsOf = (words: readonly string[]) =>
    Int32Array.from(words, (w) => {
      const known = ids.get(w);
      if (known !== undefined) return known;
      ids.set(w, ids.size);
      return ids.size - 1;
    });
  const [outer, inner] = ref.length >= hyp.length ? [idsOf(ref), idsOf(hyp)] : [idsOf(hyp), idsOf(ref)];
  const width = inner.length + 1;
  let cost = Uint32Array.from({ length: width }, (_, j) => j);
  let subs = new Uint32Array(width);
  let nextCost = new Uint32Array(width);
  let nextSubs = new Uint32Array(width);
  for (let i = 1; i <= outer.length; i++) {
    const word = outer[i - 1];
    // The row's left neighbour and the previous row's diagonal, carried in locals (the hot loop).
    let leftCost = i;
    let leftSubs = 0;
    let diagonalCost = cost[0];
    let diagonalSubs = subs[0];
    nextCost[0] = leftCost;
    nextSubs[0] = leftSubs;
    for (let j = 1; j < width; j++) {
      const upCost = cost[j];
      const upSubs = subs[j];
      const differs = word === inner[j - 1] ? 0 : 1;
      let best = diagonalCost + differs;
      let bestSubs = diagonalSubs + differs;
      if (upCost + 1 < best && upCost <= leftCost) {
        best = upCost + 1;
        bestSubs = upSubs;
      } else if (leftCost + 1 < best) {
        best = leftCost + 1;
        bestSubs = leftSubs;
      }
      nextCost[j] = leftCost = best;
      nextSubs[j] = leftSubs = bestSubs;
      diagonalCost = upCost;
      diagonalSubs = upSubs;
    }
    [cost, nextCost] = [nextCost, cost];
    [subs, nextSubs] = [nextSubs, subs];
  }
  const distance = cost[width - 1];
  const substitutions = subs[width - 1];
  const gaps = distance - substitutions;
  const surplus = ref.length - hyp.length;
  return { substitutions, deletions: (gaps + surplus) / 2, insertions: (gaps - surplus) / 2 };
}

/**
 * How far the live transcript is from the refined one (the reference), per speaker and overall.
 * Each speaker's utterances are joined in the order given (both transcripts list them by start);
 * overall is every speaker's edits over every speaker's reference words, so a speaker the refined
 * transcript did not hear still counts, as insertions. Null wherever the reference has no words.
 */
export function transcriptAgreement(
  live: readonly { speaker: string; text: string }[],
  refined: readonly { speaker: string; text: string }[],
): TranscriptAgreement {
  const liveWords = wordsBySpeaker(live);
  const refinedWords = wordsBySpeaker(refined);
  const speakers = [...new Set([...refinedWords.keys(), ...liveWords.keys()])].sort();
  let edits = 0;
  let referenceWords = 0;
  const perSpeaker: [string, number | null][] = [];
  for (const speaker of speakers) {
    const rate = compareWords(refinedWords.get(speaker) ?? [], liveWords.get(speaker) ?? []);
    edits += rate.substitutions + rate.deletions + rate.insertions;
    referenceWords += rate.referenceWords;
    perSpeaker.push([speaker, rate.wer]);
  }
  return {
    wer: referenceWords === 0 ? null : edits / referenceWords,
    // fromEntries defines own properties: a speaker called `__proto__` is a key like any other.
    perSpeaker: Object.fromEntries(perSpeaker),
    referenceWords,
  };
}

function wordsBySpeaker(utterances: readonly { speaker: string; text: string }[]): Map<string, string[]> {
  const bySpeaker = new Map<string, string[]>();
  for (const { speaker, text } of utterances) {
    const words = bySpeaker.get(speaker) ?? [];
    // One past the cap is enough to know the comparison is truncated.
    for (const word of normalizedWords(text)) if (words.length <= MAX_WER_WORDS) words.push(word);
    bySpeaker.set(speaker, words);
  }
  return bySpeaker;
}
