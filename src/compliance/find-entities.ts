import { EMAIL, expiryPlausible, ibanValid, luhnValid, ssnPlausible } from './entities.js';
import { bare, classifyToken, isJoiner } from './spoken-digits.js';

export const ENTITY_KINDS = ['card', 'cvv', 'expiry', 'ssn', 'iban', 'email', 'phone', 'pin'] as const;
export type EntityKind = (typeof ENTITY_KINDS)[number];

export const PLACEHOLDER: Readonly<Record<EntityKind, string>> = {
  card: '[CARD_NUMBER]',
  cvv: '[CVV]',
  expiry: '[EXPIRY]',
  ssn: '[SSN]',
  iban: '[IBAN]',
  email: '[EMAIL]',
  phone: '[PHONE]',
  pin: '[PIN]',
};

/** Tokens `from`…`to` (inclusive) are one entity. */
export interface Span {
  readonly kind: EntityKind;
  readonly from: number;
  readonly to: number;
}

export interface EntityContext {
  /** A card number was read on this call shortly before: a CVV or an expiry date may follow. */
  readonly afterCard: boolean;
  /** The words said on the call just before these (either leg), e.g. "what is the CVV?". */
  readonly before: readonly string[];
}

/** Consecutive tokens that read as digits (hesitations and dashes allowed between them). */
export interface DigitRun {
  readonly from: number;
  readonly to: number;
  readonly digits: string;
  /** Digits after each piece, and the token each piece ends at: where a run may be split. */
  readonly cuts: readonly { readonly digits: number; readonly to: number }[];
  /** A numeral with a slash ("12/26"). */
  readonly slash: boolean;
  /** A numeral grouped 3-2-4 with dashes ("123-45-6789"). */
  readonly ssnShaped: boolean;
}

const CONTEXT_WORDS = 8;
const CARD_WORDS =
  /\b(card|tarjeta|carte|karte|kreditkarte|carta|cart[aã]o|kaart|creditcard|visa|mastercard|amex|maestro)\b/;
const CVV_WORDS =
  /\b(cvv2?|cvc2?|cv2|security|seguridad|s[ée]curit[ée]|sicherheitscode|pr[üu]e?fnummer|sicurezza|seguran[çc]a|beveiligingscode|cryptogramme)\b/;
const EXPIRY_WORDS =
  /\b(expir\w*|valid\w*|vencimiento|vence|caducidad|caduca|ablauf\w*|g[üu]ltig\w*|scadenza|validade|vervaldatum|geldig)\b/;
const SSN_WORDS = /\b(social|ssn|seguro social)\b/;
const PIN_WORDS = /\b(pin|pincode|nip|geheimzahl|confidentiel|code pin|pin-code)\b/;

/** The digit runs in `tokens`, in order. */
export function digitRuns(tokens: readonly string[], umIsOne = false): DigitRun[] {
  const runs: DigitRun[] = [];
  let run:
    | {
        from: number;
        to: number;
        digits: string;
        cuts: { digits: number; to: number }[];
        slash: boolean;
        ssnShaped: boolean;
      }
    | undefined;
  let pending: { from: number; repeat?: number; tens?: string } | undefined;
  const close = () => {
    if (pending?.tens !== undefined && run) {
      // "forty" at the end of a run is 40
      append(pending.from, pending.from, `${pending.tens}0`);
    }
    pending = undefined;
    if (run) runs.push(run);
    run = undefined;
  };
  const append = (from: number, to: number, digits: string, slash = false, ssnShaped = false) => {
    if (!run) run = { from, to, digits: '', cuts: [], slash: false, ssnShaped: false };
    run.digits += digits;
    run.to = to;
    run.slash ||= slash;
    run.ssnShaped ||= ssnShaped;
    run.cuts.push({ digits: run.digits.length, to });
  };
  for (let i = 0; i < tokens.length; i++) {
    // "ochenta y ocho": the joiner waits with its tens word for the unit.
    if (pending?.tens !== undefined && isJoiner(tokens[i])) continue;
    const token = classifyToken(tokens[i], umIsOne);
    switch (token.kind) {
      case 'digits': {
        let digits = token.digits;
        let from = i;
        if (pending?.repeat !== undefined) {
          digits = digits[0].repeat(pending.repeat) + digits.slice(1);
          from = pending.from;
        } else if (pending?.tens !== undefined) {
          if (digits.length === 1 && digits !== '0') {
            digits = pending.tens + digits;
            from = pending.from;
          } else {
            if (!run)
              run = {
                from: pending.from,
                to: pending.from,
                digits: '',
                cuts: [],
                slash: false,
                ssnShaped: false,
              };
            append(pending.from, pending.from, `${pending.tens}0`);
          }
        }
        pending = undefined;
        if (!run) run = { from, to: i, digits: '', cuts: [], slash: false, ssnShaped: false };
        append(from, i, digits, token.slash, /^\d{3}-\d{2}-\d{4}$/.test(bare(tokens[i])));
        break;
      }
      case 'tens':
        if (pending?.tens !== undefined) {
          if (!run)
            run = {
              from: pending.from,
              to: pending.from,
              digits: '',
              cuts: [],
              slash: false,
              ssnShaped: false,
            };
          append(pending.from, pending.from, `${pending.tens}0`);
        }
        pending = { from: i, tens: token.digit };
        break;
      case 'repeat':
        if (pending?.tens !== undefined && run) append(pending.from, pending.from, `${pending.tens}0`);
        pending = { from: i, repeat: token.times };
        break;
      case 'filler':
        if (token.slash && run) run.slash = true;
        break;
      case 'other':
        close();
    }
  }
  close();
  return runs;
}

function contextText(tokens: readonly string[], before: readonly string[], at: number): string {
  const window = [...before, ...tokens.slice(0, at)].slice(-CONTEXT_WORDS);
  return window.map(bare).join(' ');
}

/**
 * The entities of `kinds` in `tokens` (one utterance, or two joined where a number runs across
 * them). Card numbers: 13–19 digits passing Luhn, or 13–19 digits said as a card ("my card
 * number is …") even if one was misheard. CVV and expiry: by context, after a card or its words.
 */
export function findEntities(
  tokens: readonly string[],
  kinds: ReadonlySet<EntityKind>,
  context: EntityContext,
): { spans: Span[]; cardSeen: boolean } {
  const spans: Span[] = [];
  let afterCard = context.afterCard;
  let cardSeen = false;
  const take = (kind: EntityKind, from: number, to: number) => {
    if (kinds.has(kind)) spans.push({ kind, from, to });
  };
  const classify = (run: DigitRun) => {
    const words = contextText(tokens, context.before, run.from);
    const n = run.digits.length;
    if (n >= 13 && n <= 19 && (luhnValid(run.digits) || CARD_WORDS.test(words))) {
      take('card', run.from, run.to);
      afterCard = cardSeen = true;
      return;
    }
    if (n > 19) {
      // A card read on with its expiry or CVV: the longest Luhn-valid prefix at a word boundary.
      for (const cut of [...run.cuts].reverse()) {
        if (cut.digits < 13 || cut.digits > 19 || !luhnValid(run.digits.slice(0, cut.digits))) continue;
        take('card', run.from, cut.to);
        afterCard = cardSeen = true;
        const rest = run.cuts.filter((c) => c.to > cut.to);
        if (rest.length > 0) {
          classify({
            ...run,
            from: cut.to + 1,
            digits: run.digits.slice(cut.digits),
            cuts: rest.map((c) => ({ digits: c.digits - cut.digits, to: c.to })),
          });
        }
        return;
      }
    }
    if (n === 9 && ssnPlausible(run.digits) && (run.ssnShaped || SSN_WORDS.test(words))) {
      take('ssn', run.from, run.to);
      return;
    }
    // The utterance's own words win over the last one's ("expires …" then "the security code is …").
    const own = tokens
      .slice(Math.max(0, run.from - CONTEXT_WORDS), run.from)
      .map(bare)
      .join(' ');
    const ownExpiry = EXPIRY_WORDS.test(own);
    const ownCvv = CVV_WORDS.test(own);
    const expiryWords = ownExpiry || (!ownCvv && EXPIRY_WORDS.test(words));
    const cvvWords = ownCvv || (!ownExpiry && CVV_WORDS.test(words));
    if (expiryWords && (run.slash || expiryPlausible(run.digits))) return take('expiry', run.from, run.to);
    if (cvvWords && (n === 3 || n === 4)) return take('cvv', run.from, run.to);
    if (afterCard && (run.slash || n === 3 || n === 4)) {
      if (run.slash || (n === 4 && expiryPlausible(run.digits))) return take('expiry', run.from, run.to);
      return take('cvv', run.from, run.to);
    }
    if (PIN_WORDS.test(words) && n >= 4 && n <= 8) return take('pin', run.from, run.to);
    if (n >= 7 && n <= 15) take('phone', run.from, run.to);
  };
  for (const run of digitRuns(tokens)) classify(run);
  // "um" is a hesitation in English and 1 in Portuguese: read it as 1 too (overlaps merge).
  if (tokens.some((t) => bare(t) === 'um')) {
    const before = spans.length;
    for (const run of digitRuns(tokens, true)) classify(run);
    // Only what the Portuguese reading finds that the English one cannot: a card or a PIN.
    const added = spans.splice(before).filter((span) => span.kind === 'card' || span.kind === 'pin');
    spans.push(...added);
  }
  if (kinds.has('email')) spans.push(...emails(tokens));
  if (kinds.has('iban')) spans.push(...ibans(tokens));
  return { spans: merge(spans), cardSeen };
}

const AT = new Set(['at', 'ät', 'arroba', 'arobase', 'chiocciola', 'apenstaartje', 'klammeraffe']);
const DOT = new Set(['dot', 'punto', 'point', 'punkt', 'ponto', 'punt']);
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
function emails(tokens: readonly string[]): Span[] {
  const spans: Span[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (EMAIL.test(bare(tokens[i]))) {
      spans.push({ kind: 'email', from: i, to: i });
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
    spans.push({ kind: 'email', from, to: end });
    i = end;
  }
  return spans;
}

/** IBANs written with or without spaces, checked with their mod-97 digits. */
function ibans(tokens: readonly string[]): Span[] {
  const spans: Span[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!/^[A-Za-z]{2}\d{2}/.test(bare(tokens[i]))) continue;
    let joined = '';
    for (let j = i; j < Math.min(tokens.length, i + 10); j++) {
      joined += bare(tokens[j]).toUpperCase();
      if (ibanValid(joined)) {
        spans.push({ kind: 'iban', from: i, to: j });
        i = j;
        break;
      }
      if (joined.length > 34) break;
    }
  }
  return spans;
}

/** Overlapping spans joined (the first kind wins). */
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.from - b.from || b.to - a.to);
  const out: Span[] = [];
  for (const span of spans) {
    const last = out.at(-1);
    if (last && span.from <= last.to) out[out.length - 1] = { ...last, to: Math.max(last.to, span.to) };
    else out.push(span);
  }
  return out;
}

/** `tokens` with each span replaced by its placeholder (keeping the last token's trailing punctuation). */
export function applySpans(tokens: readonly string[], spans: readonly Span[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const span of spans) {
    out.push(...tokens.slice(at, span.from));
    const trailing = /[.,;:!?]+$/.exec(tokens[span.to])?.[0] ?? '';
    out.push(PLACEHOLDER[span.kind] + trailing);
    at = span.to + 1;
  }
  out.push(...tokens.slice(at));
  return out;
}

/** Where a run of digits that reaches the end of `tokens` begins: it may still be going on. */
export function openRunStart(tokens: readonly string[]): number | undefined {
  let i = tokens.length - 1;
  // "… ochenta y": a joiner after a tens word waits for the unit, like a hesitation.
  while (
    i >= 0 &&
    (classifyToken(tokens[i]).kind === 'filler' ||
      (isJoiner(tokens[i]) && i > 0 && classifyToken(tokens[i - 1]).kind === 'tens'))
  )
    i--;
  if (i < 0 || classifyToken(tokens[i]).kind === 'other') return undefined;
  const last = digitRuns(tokens).at(-1);
  if (last && last.to >= i) return last.from;
  // A trailing "double" or "forty" with nothing after it yet: it belongs to the run before it.
  let j = i - 1;
  while (j >= 0 && classifyToken(tokens[j]).kind === 'filler') j--;
  if (last && last.to === j) return last.from;
  return i;
}

/**
 * How much of a partial to show: the tokens before this index. Held back are a number still being
 * read, an IBAN still being spelled and, with emails redacted, an address still being said (its
 * local part comes before "at", so the last word always waits for the next).
 */
export function partialHoldFrom(tokens: readonly string[], kinds: ReadonlySet<EntityKind>): number {
  let from = openRunStart(tokens) ?? tokens.length;
  if (kinds.has('iban')) {
    for (let i = Math.max(0, tokens.length - 9); i < tokens.length; i++) {
      if (/^[A-Za-z]{2}\d{2}/.test(bare(tokens[i]))) {
        from = Math.min(from, i);
        break;
      }
    }
  }
  if (kinds.has('email')) {
    from = Math.min(from, tokens.length - 1);
    // "ana dot lopez at example dot": from the local part on, until the address is over.
    for (let i = tokens.length - 1; i >= Math.max(0, tokens.length - 8); i--) {
      const b = bare(tokens[i]);
      if (AT.has(b) || DOT.has(b)) from = Math.min(from, Math.max(0, i - 1));
    }
  }
  return Math.max(0, from);
}
