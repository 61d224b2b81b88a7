import type { ConfigPart } from '../../config-part.js';

/** Telnyx media streams (part of EnvSchema; docs/configuration.md lists them). */
export const TelnyxEnvProperties = {};

// biome-ignore lint/complexity/noBannedTypes: filled in with the adapter
export type TelnyxConfig = {};

/** The Telnyx edge's settings; undefined: Telnyx is not taken. */
export function telnyxConfigFrom(
  _e: Readonly<Record<string, unknown>>,
): ConfigPart<TelnyxConfig | undefined> {
  return { value: undefined, problems: [], warnings: [] };
}
