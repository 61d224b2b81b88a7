import { type DigitRun, digitRuns, openRunStart } from './digit-runs.js';
import { expiryPlausible, luhnValid, ssnPlausible } from './entities.js';
import { AT, DOT, emails, ibans } from './spoken-addresses.js';
import { bare } from './spoken-digits.js';

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

const CONTEXT_WORDS = 8;
const CARD_WORDS =
  /\b(card|tarjeta|carte|karte|kreditkarte|carta|cart[aã]o|kaart|creditcard|visa|mastercard|amex|maestro)\b/;
const CVV_WORDS =
  /\b(cvv2?|cvc2?|cv2|security|seguridad|s[ée]curit[ée]|sicherheitscode|pr[üu]e?fnummer|sicurezza|seguran[çc]a|beveiligingscode|cryptogramme)\b/;
const EXPIRY_WORDS =
  /\b(expir\w*|valid\w*|vencimiento|vence|caducidad|caduca|ablauf\w*|g[üu]ltig\w*|scadenza|validade|vervaldatum|geldig)\b/;
const SSN_WORDS = /\b(social|ssn|seguro social)\b/;
const PIN_WORDS = /\b(pin|pincode|nip|geheimzahl|confidentiel|code pin|pin-code)\b/;

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
  if (kinds.has('email')) for (const r of emails(tokens)) spans.push({ kind: 'email', ...r });
  if (kinds.has('iban')) for (const r of ibans(tokens)) spans.push({ kind: 'iban', ...r });
  return { spans: merge(spans), cardSeen };
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
