import { bare, classifyToken, isJoiner } from './spoken-digits.js';

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
            append(pending.from, pending.from, `${pending.tens}0`);
          }
        }
        pending = undefined;
        append(from, i, digits, token.slash, /^\d{3}-\d{2}-\d{4}$/.test(bare(tokens[i])));
        break;
      }
      case 'tens':
        if (pending?.tens !== undefined) {
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
