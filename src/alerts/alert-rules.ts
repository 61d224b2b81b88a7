import { readFileSync } from 'node:fs';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import type { ConfigPart } from '../config-part.js';
import { normalizeWords, PhraseSet } from './phrase-match.js';

export const MAX_RULES = 200;
export const MAX_PHRASES = 50;
export const MAX_REGEX_CHARS = 200;
const MAX_PHRASE_CHARS = 200;
const MAX_WITHIN_MS = 86_400_000;

/** Live alert settings (part of EnvSchema; docs/configuration.md lists them). */
export const AlertEnvProperties = {
  ALERT_RULES_FILE: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'JSON or YAML file of live alert rules: phrases (or a regex) per speaker, and disclosures that must be said within a time of the call’s start; each raises transcript.alert',
    }),
  ),
};

export type AlertSeverity = 'info' | 'warning' | 'critical';

/** Fires when a partial or final of one of `speakers` holds one of `phrases` or matches `regex`. */
export interface PhraseRule {
  readonly kind: 'phrase';
  readonly id: string;
  readonly phrases: PhraseSet;
  /** Tested on the utterance text as the engine wrote it (punctuation and case included). */
  readonly regex: RegExp | undefined;
  /** Undefined: every speaker. */
  readonly speakers: readonly string[] | undefined;
  readonly severity: AlertSeverity;
}

/** Must be said by one of `speakers` within `withinMs` of the call's start, or it fires `missed`. */
export interface DisclosureRule {
  readonly kind: 'disclosure';
  readonly id: string;
  readonly phrases: PhraseSet;
  readonly speakers: readonly string[] | undefined;
  readonly withinMs: number;
  readonly severity: AlertSeverity;
}

export type AlertRule = PhraseRule | DisclosureRule;

export interface AlertConfig {
  readonly rules: readonly AlertRule[];
}

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' });
const Phrases = Type.Array(Type.String({ minLength: 1, maxLength: MAX_PHRASE_CHARS }), {
  minItems: 1,
  maxItems: MAX_PHRASES,
});
const Speakers = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 32 });
const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
const PhraseEntry = Type.Object(
  {
    id: Id,
    kind: Type.Literal('phrase'),
    phrases: Type.Optional(Phrases),
    regex: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_REGEX_CHARS })),
    // Only flags that change what matches, not how the regex is driven (g and y keep state).
    flags: Type.Optional(Type.String({ pattern: '^[iu]{0,2}$' })),
    speakers: Type.Optional(Speakers),
    severity: Type.Optional(Severity),
  },
  { additionalProperties: false },
);
const DisclosureEntry = Type.Object(
  {
    id: Id,
    kind: Type.Literal('disclosure'),
    phrases: Phrases,
    speakers: Type.Optional(Speakers),
    withinMs: Type.Integer({ minimum: 1, maximum: MAX_WITHIN_MS }),
    severity: Type.Optional(Severity),
  },
  { additionalProperties: false },
);
const RulesFile = Type.Object(
  { rules: Type.Array(Type.Unknown(), { maxItems: MAX_RULES }) },
  { additionalProperties: false },
);
const DEFAULT_SEVERITY: AlertSeverity = 'warning';
const DEFAULT_FLAGS = 'i';

/** Reads and compiles ALERT_RULES_FILE; unset: no alerts. A bad file is problems, never a throw. */
export function buildAlertConfig(env: {
  readonly ALERT_RULES_FILE?: string | undefined;
}): ConfigPart<AlertConfig | undefined> {
  const file = env.ALERT_RULES_FILE;
  if (file === undefined) return { value: undefined, problems: [], warnings: [] };
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    return {
      value: undefined,
      problems: [`ALERT_RULES_FILE: cannot read ${file} (${(err as Error).message})`],
      warnings: [],
    };
  }
  const { config, problems } = compileAlertRules(parsed);
  const warnings =
    config && config.rules.length === 0
      ? [`ALERT_RULES_FILE: ${file} has no rules, so no alerts are raised`]
      : [];
  return { value: problems.length > 0 ? undefined : config, problems, warnings };
}

/** The rules of a parsed rules file, compiled and frozen, or what is wrong with them (each named). */
export function compileAlertRules(parsed: unknown): {
  config: AlertConfig | undefined;
  problems: string[];
} {
  const problems: string[] = [];
  if (!schemaFits(RulesFile, parsed, '', problems)) return { config: undefined, problems };
  const rules: AlertRule[] = [];
  const ids = new Set<string>();
  (parsed as Static<typeof RulesFile>).rules.forEach((entry, index) => {
    const rule = compileRule(entry, `/rules/${index}`, problems);
    if (!rule) return;
    if (ids.has(rule.id))
      problems.push(`ALERT_RULES_FILE /rules/${index}: id ${JSON.stringify(rule.id)} is used twice`);
    ids.add(rule.id);
    rules.push(rule);
  });
  return { config: Object.freeze({ rules: Object.freeze(rules) }), problems };
}

function compileRule(entry: unknown, path: string, problems: string[]): AlertRule | undefined {
  const kind = (entry as { kind?: unknown } | null)?.kind;
  if (kind !== 'phrase' && kind !== 'disclosure') {
    problems.push(
      `ALERT_RULES_FILE ${path}/kind: must be "phrase" or "disclosure" (got ${JSON.stringify(kind)})`,
    );
    return undefined;
  }
  const before = problems.length;
  if (kind === 'disclosure') {
    if (!schemaFits(DisclosureEntry, entry, path, problems)) return undefined;
    const e = entry as Static<typeof DisclosureEntry>;
    const phrases = compilePhrases(e.phrases, path, problems);
    if (problems.length > before) return undefined;
    return Object.freeze({
      kind,
      id: e.id,
      phrases,
      speakers: frozenSpeakers(e.speakers),
      withinMs: e.withinMs,
      severity: e.severity ?? DEFAULT_SEVERITY,
    });
  }
  if (!schemaFits(PhraseEntry, entry, path, problems)) return undefined;
  const e = entry as Static<typeof PhraseEntry>;
  if (!e.phrases && e.regex === undefined)
    problems.push(`ALERT_RULES_FILE ${path}: give phrases, a regex, or both`);
  const phrases = compilePhrases(e.phrases ?? [], path, problems);
  const regex =
    e.regex === undefined ? undefined : compileRegex(e.regex, e.flags ?? DEFAULT_FLAGS, path, problems);
  if (problems.length > before) return undefined;
  return Object.freeze({
    kind,
    id: e.id,
    phrases,
    regex,
    speakers: frozenSpeakers(e.speakers),
    severity: e.severity ?? DEFAULT_SEVERITY,
  });
}

function compilePhrases(phrases: readonly string[], path: string, problems: string[]): PhraseSet {
  phrases.forEach((phrase, i) => {
    if (normalizeWords(phrase).length === 0)
      problems.push(`ALERT_RULES_FILE ${path}/phrases/${i}: ${JSON.stringify(phrase)} has no words to match`);
  });
  return new PhraseSet(phrases);
}

function compileRegex(source: string, flags: string, path: string, problems: string[]): RegExp | undefined {
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (err) {
    problems.push(`ALERT_RULES_FILE ${path}/regex: not a valid regex (${(err as Error).message})`);
    return undefined;
  }
  const nested = nestedRepeat(source);
  if (nested !== undefined) {
    problems.push(
      `ALERT_RULES_FILE ${path}/regex: ${JSON.stringify(nested)} repeats a group that itself repeats, which can take exponential time on some text; rewrite it without the nested repeat`,
    );
    return undefined;
  }
  return Object.freeze(regex);
}

/**
 * The first repeated group that holds a repeat (`(a+)+`, `(?:\d*x){2,}`, `((ab)+c)*`), or
 * undefined: the shape behind catastrophic backtracking. Conservative: a few safe regexes such
 * as `(a+b)+` are refused too. Reads a source that already compiled.
 */
function nestedRepeat(source: string): string | undefined {
  const open: { start: number; repeats: boolean }[] = [];
  let closed: { start: number; repeats: boolean } | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      closed = undefined;
      continue;
    }
    if (c === '[') {
      i = classEnd(source, i);
      closed = undefined;
      continue;
    }
    if (c === '(') {
      open.push({ start: i, repeats: false });
      closed = undefined;
      continue;
    }
    if (c === ')') {
      closed = open.pop();
      const parent = open.at(-1);
      if (closed?.repeats && parent) parent.repeats = true;
      continue;
    }
    const length = repeatLength(source, i);
    if (length > 0) {
      if (closed?.repeats) return source.slice(closed.start, i + length);
      const parent = open.at(-1);
      if (parent) parent.repeats = true;
      i += length - 1;
    }
    closed = undefined;
  }
  return undefined;
}

/** The length of a quantifier at `i` that can match more than once (`*`, `+`, `{2}`, `{1,}`), else 0. */
function repeatLength(source: string, i: number): number {
  const c = source[i];
  if (c === '*' || c === '+') return 1;
  if (c !== '{') return 0;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
  if (!m) return 0;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
  return max > 1 ? m[0].length : 0;
}

/** The index of the `]` closing the class that opens at `i` (in JS the first unescaped one: `[]` is empty). */
function classEnd(source: string, i: number): number {
  for (let j = i + 1; j < source.length; j++) {
    if (source[j] === '\\') j++;
    else if (source[j] === ']') return j;
  }
  return source.length;
}

function frozenSpeakers(speakers: readonly string[] | undefined): readonly string[] | undefined {
  return speakers ? Object.freeze([...new Set(speakers)]) : undefined;
}

function schemaFits(schema: TSchema, value: unknown, path: string, problems: string[]): boolean {
  // The first error at each place says what is wrong ("required property" then "integer" adds nothing).
  const byPlace = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    const place = `${path}${error.path || '/'}`;
    if (!byPlace.has(place)) byPlace.set(place, error.message);
  }
  for (const [place, message] of byPlace) problems.push(`ALERT_RULES_FILE ${place}: ${message}`);
  return byPlace.size === 0;
}
