import type { ConfigPart } from '../../config-part.js';

/** Vonage media streams (part of EnvSchema; docs/configuration.md lists them). */
export const VonageEnvProperties = {};

// biome-ignore lint/complexity/noBannedTypes: filled in with the adapter
export type VonageConfig = {};

/** The Vonage edge's settings; undefined: Vonage is not taken. */
export function vonageConfigFrom(
  _e: Readonly<Record<string, unknown>>,
): ConfigPart<VonageConfig | undefined> {
  return { value: undefined, problems: [], warnings: [] };
}
