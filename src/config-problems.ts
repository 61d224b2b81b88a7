import { Kind, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * What is wrong with the environment, said the way an operator fixes it: each variable once,
 * under its own name, with what it takes (`one of info, debug, …`, `an integer from 1 to 65535`)
 * and what it got. Secrets are never echoed: a rejected token is shown as its length.
 */

/** Variables whose values are credentials (never shown in an error). */
export function isSecretName(name: string): boolean {
  // A database URL carries its password.
  return /(TOKEN|_KEYS?|SECRET|PASSWORD)$/.test(name) || name === 'DATABASE_URL';
}

/** `got "verbose"`, or for a secret `got 12 characters`. */
export function shown(name: string, value: unknown): string {
  if (isSecretName(name) && typeof value === 'string') return `got ${value.length} characters`;
  return `got ${JSON.stringify(value)}`;
}

/** What a schema accepts, in words. */
export function expected(schema: TSchema): string {
  const s = schema as TSchema & Record<string, unknown>;
  if (s[Kind] === 'Union') {
    const options = (s.anyOf as TSchema[]).map((o) => (o as { const?: unknown }).const);
    if (options.every((o) => o !== undefined)) return `one of ${options.map(String).join(', ')}`;
    return (s.anyOf as TSchema[]).map(expected).join(', or ');
  }
  if (s[Kind] === 'Literal') return String(s.const);
  if (s[Kind] === 'Boolean') return 'true or false';
  if (s[Kind] === 'Integer' || s[Kind] === 'Number') {
    const what = s[Kind] === 'Integer' ? 'an integer' : 'a number';
    const max = s.maximum;
    if (s.exclusiveMinimum !== undefined)
      return `${what} above ${s.exclusiveMinimum}${max === undefined ? '' : ` and at most ${max}`}`;
    if (s.minimum !== undefined && max !== undefined) return `${what} from ${s.minimum} to ${max}`;
    if (s.minimum !== undefined) return `${what} of at least ${s.minimum}`;
    if (max !== undefined) return `${what} of at most ${max}`;
    return what;
  }
  if (s[Kind] === 'String') {
    if (typeof s.pattern === 'string') return `text matching ${s.pattern}`;
    if (typeof s.minLength === 'number' && s.minLength > 1) return `at least ${s.minLength} characters`;
    return 'text';
  }
  return 'a valid value';
}

/** One line per variable that fails its schema, in schema order; `failed` gets their names. */
export function schemaProblems(schema: TObject, value: unknown, failed: Set<string>): string[] {
  const problems: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    const name = error.path.split('/')[1] ?? '';
    if (!name || failed.has(name)) continue; // a union fails once per option: one line is enough
    failed.add(name);
    const property = schema.properties[name];
    problems.push(
      `${name}: expected ${property ? expected(property) : 'a valid value'} (${shown(name, error.value)})`,
    );
  }
  return problems;
}

// ENCRYPTION_RETIRED_KEYS is a comma list: a space after a comma is fine.
const SPACE_SEPARATED = new Set(['WEBHOOK_SECRET', 'ENCRYPTION_RETIRED_KEYS']);

/**
 * A credential must be printable ASCII without spaces: HTTP headers carry nothing else, and a
 * pasted placeholder (`sk-…`, with U+2026) would otherwise fail only at the first request.
 */
export function credentialProblems(raw: Readonly<Record<string, unknown>>, failed: Set<string>): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (!isSecretName(name) || typeof value !== 'string' || failed.has(name)) continue;
    // WEBHOOK_SECRET holds two secrets, space-separated, while rotating.
    const allowed = SPACE_SEPARATED.has(name) ? /^[\x20-\x7e]$/ : /^[\x21-\x7e]$/;
    const bad = [...value].findIndex((c) => !allowed.test(c));
    if (bad < 0) continue;
    failed.add(name);
    const c = [...value][bad];
    const code = `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    const what =
      c === ' ' ? 'a space' : /\p{Cc}/u.test(c) ? `a control character (${code})` : `"${c}" (${code})`;
    problems.push(
      `${name}: character ${bad + 1} is ${what}; a credential is plain ASCII (a placeholder pasted from an example?) (${shown(name, value)})`,
    );
  }
  return problems;
}
