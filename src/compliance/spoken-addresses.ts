import { EMAIL, ibanValid } from './entities.js';
import { bare } from './spoken-digits.js';

/** Tokens `from`…`to` (inclusive). */
export interface TokenRange {
  readonly from: number;
  readonly to: number;
}

export const AT = new Set(['at', 'ät', 'arroba', 'arobase', 'chiocciola', 'apenstaartje', 'klammeraffe']);
export const DOT = new Set(['dot', 'punto', 'point', 'punkt', 'ponto', 'punt']);
const TLD = new Set([
  'com',
  'org',
  'net',
  'edu',
  'gov',
  'io',
  'co',
  'uk',
  'de',
  'fr',
  'es',
  'it',
  'nl',
  'pt',
  'be',
  'eu',
  'ch',
  'at',
  'br',
  'mx',
  'ar',
  'info',
  'biz',
]);

/** Written addresses ("ana@example.com") and spoken ones ("ana dot lopez at example dot com"). */
export function emails(tokens: readonly string[]): TokenRange[] {
  const spans: TokenRange[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (EMAIL.test(bare(tokens[i]))) {
      spans.push({ from: i, to: i });
      continue;
    }
    if (i === 0 || !AT.has(bare(tokens[i]))) continue;
    // After "at": labels joined by "dot", the last a known ending ("example dot co dot uk").
    let j = i + 1;
    let end = -1;
    while (j + 2 < tokens.length && bare(tokens[j]) !== '' && DOT.has(bare(tokens[j + 1]))) {
      if (TLD.has(bare(tokens[j + 2]))) end = j + 2;
      j += 2;
    }
    if (end < 0) continue;
    // Before "at": the local part, one word or words joined by "dot" (at most 3 words).
    let from = i - 1;
    let words = 1;
    while (from >= 2 && DOT.has(bare(tokens[from - 1])) && words < 3) {
      from -= 2;
      words++;
    }
    spans.push({ from, to: end });
    i = end;
  }
  return spans;
}

/** IBANs written with or without spaces, checked with their mod-97 digits. */
export function ibans(tokens: readonly string[]): TokenRange[] {
  const spans: TokenRange[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!/^[A-Za-z]{2}\d{2}/.test(bare(tokens[i]))) continue;
    let joined = '';
    for (let j = i; j < Math.min(tokens.length, i + 10); j++) {
      joined += bare(tokens[j]).toUpperCase();
      if (ibanValid(joined)) {
        spans.push({ from: i, to: j });
        i = j;
        break;
      }
      if (joined.length > 34) break;
    }
  }
  return spans;
}
