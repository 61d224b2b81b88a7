import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAnalysisConfig } from '../../src/postcall/analysis-config.js';

const dir = mkdtempSync(join(tmpdir(), 'voxline-analysis-'));
let files = 0;
function schemaFile(content: unknown): string {
  const file = join(dir, `schema-${++files}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const defaults = {
  ANALYSIS_LLM_MODEL: 'gpt-4o-mini',
  ANALYSIS_LLM_TIMEOUT_MS: 60_000,
  ANALYSIS_MAX_TRANSCRIPT_CHARS: 60_000,
};
const on = { ...defaults, ANALYSIS_LLM_BASE_URL: 'http://llm.internal:8000/v1/' };

const goodSchema = {
  type: 'object',
  properties: {
    productMentioned: { type: ['string', 'null'] },
    churnRisk: { type: 'string', enum: ['low', 'medium', 'high'] },
  },
  required: ['productMentioned', 'churnRisk'],
  additionalProperties: false,
};

describe('buildAnalysisConfig: ANALYSIS_* settings', () => {
  it('is off without ANALYSIS_LLM_BASE_URL, and says so when a schema file is set anyway', () => {
    expect(buildAnalysisConfig(defaults)).toEqual({ value: undefined, problems: [], warnings: [] });
    const part = buildAnalysisConfig({ ...defaults, ANALYSIS_SCHEMA_FILE: '/nowhere.json' });
    expect(part.value).toBeUndefined();
    expect(part.problems).toEqual([]);
    expect(part.warnings[0]).toMatch(/ANALYSIS_SCHEMA_FILE is set without ANALYSIS_LLM_BASE_URL/);
  });

  it('reads a good schema file into a frozen section', () => {
    const part = buildAnalysisConfig({
      ...on,
      ANALYSIS_LLM_API_KEY: 'sk-x',
      ANALYSIS_LLM_TEMPERATURE: 0,
      ANALYSIS_SCHEMA_FILE: schemaFile(goodSchema),
    });
    expect(part.problems).toEqual([]);
    expect(part.value).toEqual({
      baseUrl: 'http://llm.internal:8000/v1',
      apiKey: 'sk-x',
      model: 'gpt-4o-mini',
      temperature: 0,
      timeoutMs: 60_000,
      maxTranscriptChars: 60_000,
      customSchema: goodSchema,
    });
    expect(Object.isFrozen(part.value)).toBe(true);
    expect(Object.isFrozen(part.value?.customSchema?.properties)).toBe(true);
  });

  it('reports a file that cannot be read or is not JSON', () => {
    const missing = buildAnalysisConfig({ ...on, ANALYSIS_SCHEMA_FILE: join(dir, 'absent.json') });
    expect(missing.problems).toEqual([
      expect.stringMatching(/^ANALYSIS_SCHEMA_FILE .*absent\.json.*cannot read/),
    ]);
    const broken = buildAnalysisConfig({ ...on, ANALYSIS_SCHEMA_FILE: schemaFile('{"type": "object",') });
    expect(broken.problems).toEqual([expect.stringMatching(/cannot read it as JSON/)]);
    expect(broken.value?.customSchema).toBeUndefined();
  });

  it('refuses a schema that is not an object schema', () => {
    for (const schema of [{ type: 'string' }, ['a'], { type: 'object', properties: {} }]) {
      const part = buildAnalysisConfig({ ...on, ANALYSIS_SCHEMA_FILE: schemaFile(schema) });
      expect(part.problems, JSON.stringify(schema)).toEqual([
        expect.stringMatching(/must be (a JSON Schema|an object schema)/),
      ]);
    }
  });

  it('names every place where strict structured output would refuse the schema', () => {
    const part = buildAnalysisConfig({
      ...on,
      ANALYSIS_SCHEMA_FILE: schemaFile({
        type: 'object',
        properties: {
          order: {
            type: 'object',
            properties: { id: { type: 'string' }, total: { type: 'number' } },
            required: ['id'],
            additionalProperties: false,
          },
          tags: {
            type: 'array',
            items: { type: 'object', properties: { t: { type: 'string' } }, required: ['t'] },
          },
          either: { oneOf: [{ type: 'string' }, { type: 'number' }] },
        },
        required: ['order', 'tags', 'either'],
        additionalProperties: false,
      }),
    });
    expect(part.problems).toEqual([
      expect.stringMatching(/\/properties\/order: "required" must list every property \(missing total/),
      expect.stringMatching(/\/properties\/tags\/items: an object needs "additionalProperties": false/),
      expect.stringMatching(/\/properties\/either: "oneOf" is not supported/),
    ]);
  });

  it('reports a schema that ajv cannot compile (an unknown keyword, a dangling $ref)', () => {
    const typo = buildAnalysisConfig({
      ...on,
      ANALYSIS_SCHEMA_FILE: schemaFile({
        type: 'object',
        properties: { n: { type: 'integer', minimun: 0 } },
        required: ['n'],
        additionalProperties: false,
      }),
    });
    expect(typo.problems).toEqual([expect.stringMatching(/not a usable JSON Schema .*minimun/)]);
    const dangling = buildAnalysisConfig({
      ...on,
      ANALYSIS_SCHEMA_FILE: schemaFile({
        type: 'object',
        properties: { n: { $ref: '#/$defs/missing' } },
        required: ['n'],
        additionalProperties: false,
      }),
    });
    expect(dangling.problems).toEqual([expect.stringMatching(/not a usable JSON Schema .*missing/)]);
  });

  it('refuses a base URL that is not http(s), and the OpenAI API without a key', () => {
    expect(buildAnalysisConfig({ ...defaults, ANALYSIS_LLM_BASE_URL: 'llm:8000' }).problems).toEqual([
      expect.stringMatching(/ANALYSIS_LLM_BASE_URL: must be an http\(s\) URL/),
    ]);
    expect(
      buildAnalysisConfig({ ...defaults, ANALYSIS_LLM_BASE_URL: 'https://api.openai.com/v1' }).problems,
    ).toEqual([expect.stringMatching(/needs ANALYSIS_LLM_API_KEY/)]);
  });
});
