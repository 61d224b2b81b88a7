import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AlertEnvProperties,
  buildAlertConfig,
  compileAlertRules,
  type DisclosureRule,
  type PhraseRule,
} from '../../src/alerts/alert-rules.js';
import { normalizeWords } from '../../src/alerts/phrase-match.js';

const dir = mkdtempSync(join(tmpdir(), 'voxline-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const phraseRule = (extra: Record<string, unknown>) => ({ id: 'r', kind: 'phrase', ...extra });
const problemsOf = (...rules: unknown[]) => compileAlertRules({ rules }).problems;

describe('buildAlertConfig', () => {
  it('declares ALERT_RULES_FILE as an optional string', () => {
    expect(Object.keys(AlertEnvProperties)).toEqual(['ALERT_RULES_FILE']);
  });

  it('without ALERT_RULES_FILE there are no alerts and nothing to report', () => {
    expect(buildAlertConfig({})).toEqual({ value: undefined, problems: [], warnings: [] });
  });

  it('reads a YAML file into frozen, compiled rules with their defaults', () => {
    const path = file(
      'rules.yaml',
      [
        'rules:',
        '  - id: churn',
        '    kind: phrase',
        '    phrases: [cancel my account, speak to a manager]',
        '    speakers: [caller]',
        '    severity: critical',
        '  - id: card-number',
        '    kind: phrase',
        '    regex: "\\\\b\\\\d{4} \\\\d{4}\\\\b"',
        '  - id: recorded-line',
        '    kind: disclosure',
        '    phrases: [this call is recorded]',
        '    speakers: [agent]',
        '    withinMs: 30000',
      ].join('\n'),
    );
    const { value, problems, warnings } = buildAlertConfig({ ALERT_RULES_FILE: path });
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    const [churn, card, disclosure] = value?.rules ?? [];
    expect(churn).toMatchObject({ kind: 'phrase', id: 'churn', speakers: ['caller'], severity: 'critical' });
    expect((churn as PhraseRule).phrases.find(normalizeWords('Speak to a MANAGER!'))).toBe(
      'speak to a manager',
    );
    expect(card).toMatchObject({ kind: 'phrase', speakers: undefined, severity: 'warning' });
    expect(String((card as PhraseRule).regex)).toBe('/\\b\\d{4} \\d{4}\\b/i');
    expect(disclosure).toMatchObject({ kind: 'disclosure', withinMs: 30_000, speakers: ['agent'] });
    expect((disclosure as DisclosureRule).phrases.size).toBe(1);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value?.rules)).toBe(true);
    expect(Object.isFrozen(churn)).toBe(true);
    expect(Object.isFrozen(churn?.speakers)).toBe(true);
    // A frozen, non-global regex still matches (it keeps no lastIndex state).
    expect((card as PhraseRule).regex?.test('it is 4111 1111 ok')).toBe(true);
  });

  it('reads JSON too, and warns about a file with no rules', () => {
    const { value, problems, warnings } = buildAlertConfig({
      ALERT_RULES_FILE: file('empty.json', '{"rules": []}'),
    });
    expect(problems).toEqual([]);
    expect(value?.rules).toEqual([]);
    expect(warnings).toEqual([expect.stringContaining('has no rules')]);
  });

  it('a file it cannot read or parse is a problem naming the file, not a throw', () => {
    const missing = join(dir, 'missing.yaml');
    const unread = buildAlertConfig({ ALERT_RULES_FILE: missing });
    expect(unread.value).toBeUndefined();
    expect(unread.problems).toEqual([
      expect.stringMatching(/^ALERT_RULES_FILE: cannot read .*missing\.yaml/),
    ]);
    const broken = buildAlertConfig({ ALERT_RULES_FILE: file('broken.yaml', 'rules: [ {id: a') });
    expect(broken.problems).toEqual([expect.stringContaining('cannot read')]);
  });

  it('any problem in the rules leaves no config', () => {
    const path = file(
      'bad.json',
      JSON.stringify({ rules: [{ id: 'a', kind: 'phrase', phrases: ['ok'] }, { id: 'b' }] }),
    );
    const { value, problems } = buildAlertConfig({ ALERT_RULES_FILE: path });
    expect(value).toBeUndefined();
    expect(problems).toEqual([
      'ALERT_RULES_FILE /rules/1/kind: must be "phrase" or "disclosure" (got undefined)',
    ]);
  });
});

describe('compileAlertRules: problems, each with its place in the file', () => {
  it('the file must be { rules: [...] }', () => {
    expect(compileAlertRules(null).problems).not.toEqual([]);
    expect(compileAlertRules({ rule: [] }).problems.join('\n')).toMatch(/ALERT_RULES_FILE \/rule/);
    expect(compileAlertRules('rules').problems).not.toEqual([]);
  });

  it('fields the schema refuses: a bad id, an unknown field, a bad severity, a missing withinMs', () => {
    expect(problemsOf(phraseRule({ id: 'has space', phrases: ['x'] }))).toEqual([
      expect.stringMatching(/^ALERT_RULES_FILE \/rules\/0\/id: /),
    ]);
    expect(problemsOf(phraseRule({ phrases: ['x'], words: ['y'] })).join('\n')).toMatch(/\/rules\/0\/words/);
    expect(problemsOf(phraseRule({ phrases: ['x'], severity: 'urgent' })).join('\n')).toMatch(
      /\/rules\/0\/severity/,
    );
    expect(problemsOf({ id: 'd', kind: 'disclosure', phrases: ['x'] }).join('\n')).toMatch(
      /\/rules\/0\/withinMs/,
    );
    expect(problemsOf({ id: 'd', kind: 'disclosure', withinMs: 1000 }).join('\n')).toMatch(
      /\/rules\/0\/phrases/,
    );
    expect(problemsOf({ id: 'd', kind: 'sentiment' })).toEqual([
      'ALERT_RULES_FILE /rules/0/kind: must be "phrase" or "disclosure" (got "sentiment")',
    ]);
  });

  it('a phrase rule needs phrases or a regex, and every phrase needs a word', () => {
    expect(problemsOf(phraseRule({}))).toEqual(['ALERT_RULES_FILE /rules/0: give phrases, a regex, or both']);
    expect(problemsOf(phraseRule({ phrases: ['fine', '?!'] }))).toEqual([
      'ALERT_RULES_FILE /rules/0/phrases/1: "?!" has no words to match',
    ]);
  });

  it('an invalid regex, or a flag other than i and u, is refused', () => {
    expect(problemsOf(phraseRule({ regex: '(unclosed' }))).toEqual([
      expect.stringMatching(/^ALERT_RULES_FILE \/rules\/0\/regex: not a valid regex \(/),
    ]);
    expect(problemsOf(phraseRule({ regex: 'a', flags: 'g' })).join('\n')).toMatch(/\/rules\/0\/flags/);
    expect(problemsOf(phraseRule({ regex: 'a', flags: 'ii' })).join('\n')).toMatch(/not a valid regex/);
    expect(problemsOf(phraseRule({ regex: '\\p{L}', flags: 'u' }))).toEqual([]);
  });

  it('refuses nested repeats, the shape behind catastrophic backtracking, and says so', () => {
    for (const regex of ['(a+)+', '(?:\\d*x)*', '((ab)+c)+', '(a{2,5})+', '(x|y+){3}', '(?<n>\\w+)*$']) {
      const problems = problemsOf(phraseRule({ regex }));
      expect(problems, regex).toHaveLength(1);
      expect(problems[0], regex).toMatch(/repeats a group that itself repeats.*exponential time/);
    }
    expect(problemsOf(phraseRule({ regex: '^(a+)+$' }))[0]).toContain('"(a+)+"');
  });

  it('accepts repeats that are not nested: of a group without one, escaped parens, classes, optional groups', () => {
    for (const regex of [
      '(ab)+',
      'a+b+',
      '[(+)]+',
      '\\(a+\\)+',
      '(a+)?',
      '(a+)b*',
      '(?:cancel|close)\\s+my\\s+account',
      '(a{1})+',
      '[]a+',
    ]) {
      expect(problemsOf(phraseRule({ regex })), regex).toEqual([]);
    }
  });

  it('caps a regex at 200 characters, a rule at 50 phrases and a file at 200 rules', () => {
    expect(problemsOf(phraseRule({ regex: 'a'.repeat(201) })).join('\n')).toMatch(/\/rules\/0\/regex: .*200/);
    expect(problemsOf(phraseRule({ regex: 'a'.repeat(200) }))).toEqual([]);
    const phrases = Array.from({ length: 51 }, (_, i) => `phrase ${i}`);
    expect(problemsOf(phraseRule({ phrases })).join('\n')).toMatch(/\/rules\/0\/phrases: .*50/);
    const rules = Array.from({ length: 201 }, (_, i) => phraseRule({ id: `r${i}`, phrases: ['x'] }));
    expect(compileAlertRules({ rules }).problems.join('\n')).toMatch(/\/rules: .*200/);
    expect(compileAlertRules({ rules: rules.slice(0, 200) }).problems).toEqual([]);
  });

  it('an id used twice is a problem', () => {
    expect(
      problemsOf(phraseRule({ id: 'x', phrases: ['a'] }), {
        id: 'x',
        kind: 'disclosure',
        phrases: ['b'],
        withinMs: 5,
      }),
    ).toEqual(['ALERT_RULES_FILE /rules/1: id "x" is used twice']);
  });
});
