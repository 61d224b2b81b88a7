import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/** A parser for one server's JSON events: undefined for anything not well-formed and known. */
export function jsonEventParser<T extends TSchema>(schema: T): (data: string) => Static<T> | undefined {
  const check = TypeCompiler.Compile(schema);
  return (data) => {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      return undefined;
    }
    return check.Check(value) ? value : undefined;
  };
}
