import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';

/** What the call came to; `other` when none fits (the summary says more). */
export const CALL_OUTCOMES = ['resolved', 'unresolved', 'escalated', 'callback', 'sale', 'other'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

export const SENTIMENTS = ['positive', 'neutral', 'negative', 'mixed'] as const;
export type Sentiment = (typeof SENTIMENTS)[number];

export interface SpeakerSentiment {
  readonly speaker: string;
  readonly sentiment: Sentiment;
  /** -1 (very negative) to 1 (very positive). */
  readonly score: number;
}

export interface ActionItem {
  /** The speaker who is to do it, or null when the call did not say. */
  readonly owner: string | null;
  readonly text: string;
}

/**
 * A call's analysis as the model wrote it, checked against `analysisJsonSchema`. Arrays are plain
 * (not readonly) so that the value is the `call.analyzed` event's data as it stands.
 */
export interface CallAnalysis {
  readonly summary: string;
  readonly reason: string;
  readonly outcome: CallOutcome;
  readonly sentiment: SpeakerSentiment[];
  readonly actionItems: ActionItem[];
  /** The operator's fields (ANALYSIS_SCHEMA_FILE), present exactly when that file is set. */
  readonly custom?: Record<string, unknown>;
}

export type JsonSchema = Readonly<Record<string, unknown>>;

/** The `response_format.json_schema.name` the model is asked for. */
export const ANALYSIS_SCHEMA_NAME = 'call_analysis';

/**
 * The JSON Schema the model must answer, in the subset OpenAI's strict structured output takes:
 * every object closes its properties (additionalProperties false) and requires all of them.
 * `custom`, the operator's object schema, is added under `custom` (required) when given; its
 * `$defs`/`definitions` move to the root and its local `$ref`s are rebased, so that refs inside
 * it still resolve once it is nested.
 */
export function analysisJsonSchema(custom?: JsonSchema): JsonSchema {
  const properties: Record<string, unknown> = {
    summary: { type: 'string', description: 'what happened on the call, in two to five sentences' },
    reason: { type: 'string', description: 'why the caller called, in one sentence' },
    outcome: {
      type: 'string',
      enum: [...CALL_OUTCOMES],
      description:
        'resolved: the need was met on the call; unresolved: it was not; escalated: handed to someone else; ' +
        'callback: a later contact was agreed; sale: something was bought or ordered; other: none of these',
    },
    sentiment: {
      type: 'array',
      description: 'one entry per speaker, using the speaker names of the transcript',
      items: {
        type: 'object',
        properties: {
          speaker: { type: 'string' },
          sentiment: { type: 'string', enum: [...SENTIMENTS] },
          score: {
            type: 'number',
            minimum: -1,
            maximum: 1,
            description: '-1 very negative … 1 very positive',
          },
        },
        required: ['speaker', 'sentiment', 'score'],
        additionalProperties: false,
      },
    },
    actionItems: {
      type: 'array',
      description: 'what someone agreed or needs to do after the call; empty when nothing',
      items: {
        type: 'object',
        properties: {
          owner: { type: ['string', 'null'], description: 'the speaker who is to do it, or null' },
          text: { type: 'string' },
        },
        required: ['owner', 'text'],
        additionalProperties: false,
      },
    },
  };
  const root: Record<string, unknown> = {
    type: 'object',
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  };
  if (!custom) return root;
  const { $defs, definitions, $schema: _s, $id: _i, ...rest } = custom;
  properties.custom = rebaseRefs(rest);
  root.required = Object.keys(properties);
  if ($defs !== undefined) root.$defs = rebaseRefs($defs);
  if (definitions !== undefined) root.definitions = rebaseRefs(definitions);
  return root;
}

/** `#/$defs/…` and `#/definitions/…` stay (hoisted to the root); any other `#/…` points under custom. */
function rebaseRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebaseRefs);
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const local = key === '$ref' && typeof child === 'string' && child.startsWith('#');
    out[key] =
      local && !/^#\/(\$defs|definitions)\//.test(child)
        ? `#/properties/custom${child.slice(1)}`
        : rebaseRefs(child);
  }
  return out;
}

/** One ajv for the analysis schema: all errors (for the repair message), formats, strict keywords. */
export function compileAnalysisSchema(schema: JsonSchema): ValidateFunction<CallAnalysis> {
  // ajv-formats is CommonJS: its default import is the module, whose `default` is the plugin.
  const addFormats = ajvFormats.default;
  const ajv = new Ajv({ allErrors: true, strictSchema: true, strictTypes: false, strictTuples: false });
  addFormats(ajv);
  return ajv.compile<CallAnalysis>(schema);
}

/** Keywords OpenAI's strict mode refuses (the request would fail on every call, so config says so). */
const UNSUPPORTED = ['allOf', 'oneOf', 'not', 'if', 'then', 'else', 'patternProperties', 'dependentSchemas'];

/**
 * Why an operator schema cannot be used under strict structured output: it must be an object
 * schema with properties; every object in it must close (additionalProperties false) and require
 * all its properties (an optional field is a union with null: `"type": ["string", "null"]`).
 */
export function strictSchemaProblems(schema: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(schema)) return ['must be a JSON Schema object'];
  if (schema.type !== 'object' || !isObject(schema.properties) || Object.keys(schema.properties).length === 0)
    return ['must be an object schema ("type": "object") with at least one property'];
  walk(schema, '', problems);
  for (const key of ['$defs', 'definitions'] as const) {
    const defs = schema[key];
    if (isObject(defs))
      for (const [name, def] of Object.entries(defs)) walk(def, `/${key}/${name}`, problems);
  }
  return problems;
}

function walk(node: unknown, path: string, problems: string[]): void {
  if (!isObject(node)) {
    problems.push(`${path || '/'}: must be a schema object (true/false schemas are not allowed)`);
    return;
  }
  for (const key of UNSUPPORTED)
    if (key in node) problems.push(`${path || '/'}: "${key}" is not supported by strict structured output`);
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('object') || 'properties' in node) {
    const properties = isObject(node.properties) ? node.properties : {};
    if (node.additionalProperties !== false)
      problems.push(`${path || '/'}: an object needs "additionalProperties": false`);
    const required = Array.isArray(node.required) ? node.required : [];
    const missing = Object.keys(properties).filter((name) => !required.includes(name));
    if (missing.length > 0)
      problems.push(
        `${path || '/'}: "required" must list every property (missing ${missing.join(', ')}; make optional ones nullable)`,
      );
    for (const [name, child] of Object.entries(properties))
      walk(child, `${path}/properties/${name}`, problems);
  }
  if ('items' in node) walk(node.items, `${path}/items`, problems);
  if (Array.isArray(node.anyOf))
    for (const [i, child] of node.anyOf.entries()) walk(child, `${path}/anyOf/${i}`, problems);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}
