/**
 * Digits as callers say them and as Voxtral writes them: numerals ("4111", "4111-1111", "12/26")
 * and number words in English, Spanish, French, German, Italian, Portuguese and Dutch, with
 * "double"/"triple" (and their equivalents) repeating the next digit, and English "oh" for zero.
 * Pure: a token in, the digits it stands for out.
 */

const UNITS: Record<string, string> = {};
function words(digit: number, ...names: string[]): void {
  for (const name of names) UNITS[name] = String(digit);
}
// en, es, fr, de, it, pt, nl (accents also without them, as a model may drop them)
words(0, 'zero', 'oh', 'nought', 'cero', 'zéro', 'null', 'nul');
// Portuguese "um" is also English's hesitation: it is read as the hesitation.
words(1, 'one', 'uno', 'una', 'un', 'une', 'eins', 'ein', 'uma', 'een', 'één', 'eén');
words(2, 'two', 'dos', 'deux', 'zwei', 'zwo', 'due', 'dois', 'duas', 'twee');
words(3, 'three', 'tres', 'trois', 'drei', 'tre', 'três', 'drie');
words(4, 'four', 'cuatro', 'quatre', 'vier', 'quattro', 'quatro');
words(5, 'five', 'cinco', 'cinq', 'fünf', 'funf', 'fuenf', 'cinque', 'vijf');
words(6, 'six', 'seis', 'sechs', 'sei', 'zes');
words(7, 'seven', 'siete', 'sept', 'sieben', 'sette', 'sete', 'zeven');
words(8, 'eight', 'ocho', 'huit', 'acht', 'otto', 'oito');
words(9, 'nine', 'nueve', 'neuf', 'neun', 'nove', 'negen');

// Brazilian callers say "meia" (half a dozen) for six.
words(6, 'meia');

/** 10–19 in the seven languages. */
const TEENS: Record<string, number> = {};
function teens(...names: string[]): void {
  names.forEach((name, i) => {
    for (const n of name.split('|')) TEENS[n] = 10 + i;
  });
}
teens(
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
);
teens(
  'diez',
  'once',
  'doce',
  'trece',
  'catorce',
  'quince',
  'dieciséis|dieciseis',
  'diecisiete',
  'dieciocho',
  'diecinueve',
);
teens('dix', 'onze', 'douze', 'treize', 'quatorze', 'quinze', 'seize', 'dix-sept', 'dix-huit', 'dix-neuf');
teens(
  'zehn',
  'elf',
  'zwölf|zwoelf',
  'dreizehn',
  'vierzehn',
  'fünfzehn|funfzehn',
  'sechzehn',
  'siebzehn',
  'achtzehn',
  'neunzehn',
);
teens(
  'dieci',
  'undici',
  'dodici',
  'tredici',
  'quattordici',
  'quindici',
  'sedici',
  'diciassette',
  'diciotto',
  'diciannove',
);
teens(
  'dez',
  'onze',
  'doze',
  'treze',
  'catorze|quatorze',
  'quinze',
  'dezesseis|dezasseis',
  'dezessete|dezassete',
  'dezoito',
  'dezenove|dezanove',
);
teens(
  'tien',
  'elf',
  'twaalf',
  'dertien',
  'veertien',
  'vijftien',
  'zestien',
  'zeventien',
  'achttien',
  'negentien',
);

/** 20–90 in the seven languages, by their tens digit. */
const TENS: Record<string, number> = {};
function tens(digit: number, ...names: string[]): void {
  for (const name of names) TENS[name] = digit;
}
tens(2, 'twenty', 'veinte', 'vingt', 'zwanzig', 'venti', 'vinte', 'twintig');
tens(3, 'thirty', 'treinta', 'trente', 'dreißig', 'dreissig', 'trenta', 'trinta', 'dertig');
tens(4, 'forty', 'cuarenta', 'quarante', 'vierzig', 'quaranta', 'quarenta', 'veertig');
tens(5, 'fifty', 'cincuenta', 'cinquante', 'fünfzig', 'funfzig', 'cinquanta', 'cinquenta', 'vijftig');
tens(6, 'sixty', 'sesenta', 'soixante', 'sechzig', 'sessanta', 'sessenta', 'zestig');
tens(7, 'seventy', 'setenta', 'siebzig', 'settanta', 'zeventig');
tens(8, 'eighty', 'ochenta', 'achtzig', 'ottanta', 'oitenta', 'tachtig');
tens(9, 'ninety', 'noventa', 'neunzig', 'novanta', 'negentig');

/** "and" between a tens word and its unit: "ochenta y ocho", "vinte e seis", "vingt et un". */
const JOINERS = new Set(['y', 'e', 'et', 'and']);
export function isJoiner(token: string): boolean {
  return JOINERS.has(bare(token));
}

/** A number 0–99 said as one word, in any of the seven languages (undefined if it is not one). */
export function wordNumber(word: string): number | undefined {
  const unit = UNITS[word];
  if (unit !== undefined) return Number(unit);
  if (TEENS[word] !== undefined) return TEENS[word];
  if (TENS[word] !== undefined) return TENS[word] * 10;
  // Hyphenated: "forty-one", "vingt-sept", "soixante-dix-huit", "quatre-vingt-trois".
  if (word.includes('-')) {
    let total = 0;
    let last = 0;
    for (const part of word.split('-')) {
      if (part === 'et') continue;
      if ((part === 'vingt' || part === 'vingts') && last === 4) {
        total += 76; // quatre-vingt: the 4 already counted becomes 80
        last = 80;
        continue;
      }
      const value = wordNumber(part);
      if (value === undefined) return undefined;
      total += value;
      last = value;
    }
    return total <= 99 ? total : undefined;
  }
  // Spanish veinti-: "veintiocho"; German unit+und+tens: "achtundzwanzig"; Dutch unit+en+tens:
  // "zevenentwintig", "tweeëntwintig"; Italian tens+unit with elision: "ventotto", "trentadue".
  if (word.startsWith('veinti')) {
    const u = wordNumber(word.slice(6).replace('é', 'e').replace('ó', 'o').replace('ú', 'u'));
    if (u !== undefined && u > 0 && u < 10) return 20 + u;
  }
  for (const joint of ['und', 'ën', 'en']) {
    for (let at = word.indexOf(joint, 2); at >= 0; at = word.indexOf(joint, at + 1)) {
      const head = word.slice(0, at);
      const u = head === 'ein' ? '1' : UNITS[head];
      const t = TENS[word.slice(at + joint.length)];
      if (u !== undefined && u !== '0' && t !== undefined) return t * 10 + Number(u);
    }
  }
  for (const [name, digit] of Object.entries(TENS)) {
    for (const stem of [name, name.slice(0, -1)]) {
      if (stem.length < 4 || !word.startsWith(stem) || word === name) continue;
      const u = UNITS[word.slice(stem.length).replace('é', 'e')];
      if (u !== undefined && u !== '0') return digit * 10 + Number(u);
    }
  }
  return undefined;
}

/** Words that repeat the digit after them: "double four" is 44. */
const REPEAT: Record<string, number> = {
  double: 2,
  triple: 3,
  doble: 2,
  doppel: 2,
  doppio: 2,
  dubbel: 2,
  duplo: 2,
};

/** Hesitations a run of digits may hold without ending ("four one, uh, one one"). */
const FILLERS = new Set(['uh', 'um', 'uhm', 'er', 'erm', 'eh', 'ehm', 'euh', 'äh', 'ähm', 'hmm', 'mm']);

export type DigitToken =
  | { readonly kind: 'digits'; readonly digits: string; readonly slash?: boolean }
  /** "double"/"triple": repeats the next digit. */
  | { readonly kind: 'repeat'; readonly times: number }
  /** "forty": a tens word waiting for its unit ("forty one" is 41, "forty" alone 40). */
  | { readonly kind: 'tens'; readonly digit: string }
  | { readonly kind: 'filler'; readonly slash?: boolean }
  | { readonly kind: 'other' };

/** The token without surrounding punctuation, lower-cased (Voxtral writes "4111," and "Four."). */
export function bare(token: string): string {
  return token.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
}

/** What one whitespace-separated token says about digits (`umIsOne`: Portuguese "um" is 1). */
export function classifyToken(token: string, umIsOne = false): DigitToken {
  const b = bare(token);
  if (umIsOne && b === 'um') return { kind: 'digits', digits: '1' };
  if (b === '') return /^[-–—,./]+$/.test(token) ? { kind: 'filler' } : { kind: 'other' };
  // Numerals, maybe grouped with dashes, dots or slashes: "4111-1111", "12/26", "123.45.6789".
  if (/^\d+(?:[-–./]\d+)*$/.test(b))
    return { kind: 'digits', digits: b.replace(/\D/g, ''), slash: b.includes('/') };
  if (FILLERS.has(b)) return { kind: 'filler' };
  const value = wordNumber(b);
  if (value !== undefined) {
    // A tens word alone may still take its unit ("forty" then "one"; "ochenta y ocho").
    if (value >= 20 && value % 10 === 0 && TENS[b] !== undefined)
      return { kind: 'tens', digit: String(value / 10) };
    return { kind: 'digits', digits: String(value) };
  }
  if (b === 'slash' || b === 'barra') return { kind: 'filler', slash: true };
  const times = REPEAT[b];
  if (times !== undefined) return { kind: 'repeat', times };
  return { kind: 'other' };
}
