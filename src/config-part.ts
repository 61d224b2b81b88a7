/**
 * What one area's config builder hands back: its section, and what is wrong or worth knowing,
 * for loadConfig to report in one pass. Builders own their lists; nothing writes into a shared one.
 */
export interface ConfigPart<T> {
  readonly value: T;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}
