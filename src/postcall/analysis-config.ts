import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { ConfigPart } from '../config-part.js';
import {
  analysisJsonSchema,
  compileAnalysisSchema,
  type JsonSchema,
  strictSchemaProblems,
} from './analysis-schema.js';

export interface AnalysisConfig {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly model: string;
  /** Sent only when set: some models (reasoning ones) refuse any temperature. */
  readonly temperature: number | undefined;
  readonly timeoutMs: number;
  /** Longer transcripts lose their middle (a marker says how much); see `clipTranscript`. */
  readonly maxTranscriptChars: number;
  /** The operator's object schema (ANALYSIS_SCHEMA_FILE), answered under `custom`; undefined: none. */
  readonly customSchema: JsonSchema | undefined;
}

/** Call analysis settings (part of EnvSchema; docs/configuration.md lists them). */
export const AnalysisEnvProperties = {
  ANALYSIS_LLM_BASE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'OpenAI-compatible chat completions base URL with structured output (OpenAI, vLLM, Mistral…); unset: no call analysis',
    }),
  ),
  ANALYSIS_LLM_API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'its API key' })),
  ANALYSIS_LLM_MODEL: Type.String({ minLength: 1, default: 'gpt-4o-mini', description: 'chat model' }),
  ANALYSIS_LLM_TEMPERATURE: Type.Optional(
    Type.Number({ minimum: 0, maximum: 2, description: 'sampling temperature (unset: the model’s default)' }),
  ),
  ANALYSIS_LLM_TIMEOUT_MS: Type.Integer({
    minimum: 1_000,
    maximum: 600_000,
    default: 60_000,
    description: 'one analysis request; past it the request fails and is retried',
  }),
  ANALYSIS_SCHEMA_FILE: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'JSON Schema file of your own fields (an object schema, strict structured output rules), answered under `custom`',
    }),
  ),
  ANALYSIS_MAX_TRANSCRIPT_CHARS: Type.Integer({
    minimum: 1_000,
    maximum: 2_000_000,
    default: 60_000,
    description: 'longest transcript sent; a longer one keeps its start and end and loses the middle',
  }),
};

interface AnalysisEnv {
  ANALYSIS_LLM_BASE_URL?: string;
  ANALYSIS_LLM_API_KEY?: string;
  ANALYSIS_LLM_MODEL: string;
  ANALYSIS_LLM_TEMPERATURE?: number;
  ANALYSIS_LLM_TIMEOUT_MS: number;
  ANALYSIS_SCHEMA_FILE?: string;
  ANALYSIS_MAX_TRANSCRIPT_CHARS: number;
}

/** The analysis section (undefined when ANALYSIS_LLM_BASE_URL is unset), with its problems. */
export function buildAnalysisConfig(e: AnalysisEnv): ConfigPart<AnalysisConfig | undefined> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const baseUrl = e.ANALYSIS_LLM_BASE_URL;
  if (!baseUrl) {
    if (e.ANALYSIS_SCHEMA_FILE)
      warnings.push('ANALYSIS_SCHEMA_FILE is set without ANALYSIS_LLM_BASE_URL: calls are not analyzed');
    return { value: undefined, problems, warnings };
  }
  if (!/^https?:\/\/[^/]/.test(baseUrl))
    problems.push(`ANALYSIS_LLM_BASE_URL: must be an http(s) URL (got ${JSON.stringify(baseUrl)})`);
  if (!e.ANALYSIS_LLM_API_KEY && baseUrl.includes('api.openai.com'))
    problems.push('ANALYSIS_LLM_BASE_URL is the OpenAI API: it needs ANALYSIS_LLM_API_KEY');
  const customSchema = e.ANALYSIS_SCHEMA_FILE ? readSchema(e.ANALYSIS_SCHEMA_FILE, problems) : undefined;
  return {
    value: deepFreeze({
      baseUrl: baseUrl.replace(/\/+$/, ''),
      apiKey: e.ANALYSIS_LLM_API_KEY,
      model: e.ANALYSIS_LLM_MODEL,
      temperature: e.ANALYSIS_LLM_TEMPERATURE,
      timeoutMs: e.ANALYSIS_LLM_TIMEOUT_MS,
      maxTranscriptChars: e.ANALYSIS_MAX_TRANSCRIPT_CHARS,
      customSchema,
    }),
    problems,
    warnings,
  };
}

/** Reads, parses and checks the operator's schema; undefined (with problems) when it cannot be used. */
function readSchema(file: string, problems: string[]): JsonSchema | undefined {
  const where = `ANALYSIS_SCHEMA_FILE (${file})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`${where}: cannot read it as JSON (${(err as Error).message})`);
    return undefined;
  }
  const strict = strictSchemaProblems(parsed);
  if (strict.length > 0) {
    for (const problem of strict) problems.push(`${where}: ${problem}`);
    return undefined;
  }
  const schema = parsed as JsonSchema;
  try {
    // Compiled as the model will be held to it: nested under `custom` in the whole schema.
    compileAnalysisSchema(analysisJsonSchema(schema));
  } catch (err) {
    problems.push(`${where}: not a usable JSON Schema (${(err as Error).message})`);
    return undefined;
  }
  return schema;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
