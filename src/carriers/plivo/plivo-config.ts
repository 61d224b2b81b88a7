import type { ConfigPart } from '../../config-part.js';

/** Plivo media streams (part of EnvSchema; docs/configuration.md lists them). */
export const PlivoEnvProperties = {};

// biome-ignore lint/complexity/noBannedTypes: filled in with the adapter
export type PlivoConfig = {};

/** The Plivo edge's settings; undefined: Plivo is not taken. */
export function plivoConfigFrom(_e: Readonly<Record<string, unknown>>): ConfigPart<PlivoConfig | undefined> {
  return { value: undefined, problems: [], warnings: [] };
}
