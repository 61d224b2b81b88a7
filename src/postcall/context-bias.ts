import { commaList } from '../comma-list.js';

/** Mistral takes at most 100 context-bias entries a request. */
export const MAX_CONTEXT_BIAS = 100;
const MAX_TERM_CHARS = 64;
/** The call parameter (Twilio `<Parameter>`, a browser call's `parameters`) with a call's own terms. */
export const VOCABULARY_PARAMETER = 'vocabulary';

/**
 * Terms as configured: trimmed, inner whitespace one space, duplicates (any case) once. Too many
 * or too long is a problem for the config to report (a call's own list is cut instead).
 */
export function checkContextBias(raw: readonly string[]): { terms: string[]; problems: string[] } {
  const problems: string[] = [];
  const terms = uniqueTerms(raw);
  const long = terms.filter((t) => t.length > MAX_TERM_CHARS);
  if (long.length > 0)
    problems.push(`terms longer than ${MAX_TERM_CHARS} characters: ${long.slice(0, 3).join(', ')}`);
  if (terms.length > MAX_CONTEXT_BIAS) problems.push(`${terms.length} terms: at most ${MAX_CONTEXT_BIAS}`);
  return { terms, problems };
}

/**
 * A call's terms: the configured ones, then those of its `vocabulary` parameter (comma list),
 * too-long ones dropped, cut at MAX_CONTEXT_BIAS (the configured list comes first).
 */
export function callContextBias(
  configured: readonly string[],
  parameters: Readonly<Record<string, string>>,
): string[] {
  const own = commaList(parameters[VOCABULARY_PARAMETER]).filter((t) => t.length <= MAX_TERM_CHARS);
  return uniqueTerms([...configured, ...own]).slice(0, MAX_CONTEXT_BIAS);
}

function uniqueTerms(raw: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const term of raw) {
    const t = term.trim().replace(/\s+/g, ' ');
    const key = t.toLowerCase();
    if (!t || seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}
