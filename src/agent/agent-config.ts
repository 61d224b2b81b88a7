import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { commaList } from '../comma-list.js';
import type { ConfigPart } from '../config-part.js';
import { checkSecret } from '../webhooks/signing.js';
import { FLITE_VOICES } from './tts/flite-tts.js';

const Ms = (min: number, max: number, value: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: value, description });

/** Voice agent settings (part of EnvSchema; docs/configuration.md lists them). */
export const AgentEnvProperties = {
  LLM_BASE_URL: Type.String({
    minLength: 1,
    default: 'https://api.openai.com/v1',
    description: 'OpenAI-compatible chat completions base URL (vLLM, Mistral, OpenAI, Ollama…)',
  }),
  LLM_API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'its API key' })),
  LLM_MODEL: Type.String({ minLength: 1, default: 'gpt-4o-mini', description: 'chat model' }),
  LLM_TEMPERATURE: Type.Number({ minimum: 0, maximum: 2, default: 0.6, description: 'sampling temperature' }),
  LLM_TIMEOUT_MS: Ms(500, 300_000, 15_000, 'a reply that has not started within this fails'),
  AGENT_SYSTEM_PROMPT: Type.Optional(Type.String({ minLength: 1, description: 'system prompt' })),
  AGENT_SYSTEM_PROMPT_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'file holding the system prompt (instead of the above)' }),
  ),
  AGENT_GREETING: Type.String({
    default: 'Hello! How can I help you today?',
    description: 'what the agent says first (none: wait for the caller to speak)',
  }),
  AGENT_REPROMPT: Type.String({
    minLength: 1,
    default: 'Are you still there?',
    description: 'said after AGENT_SILENCE_MS of caller silence',
  }),
  AGENT_GOODBYE: Type.String({
    minLength: 1,
    default: 'I have not heard from you, so I will end the call now. Goodbye.',
    description: 'said before hanging up on a silent caller',
  }),
  AGENT_SILENCE_MS: Ms(1_000, 600_000, 8_000, 'caller silence after the agent spoke before a reprompt'),
  AGENT_MAX_REPROMPTS: Type.Integer({
    minimum: 0,
    maximum: 20,
    default: 2,
    description: 'reprompts in a row before the agent says goodbye and hangs up',
  }),
  AGENT_TURN_SILENCE_MS: Ms(100, 5_000, 600, 'caller silence that ends the caller’s turn (agent calls)'),
  AGENT_EARLY_START: Type.Boolean({
    default: true,
    description: 'start the LLM on the partial at end of speech; kept if the final agrees',
  }),
  BARGE_IN_MIN_MS: Ms(0, 5_000, 400, 'caller speech during agent playback that interrupts it'),
  AGENT_TOOLS_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'JSON or YAML file of HTTP tools for the LLM' }),
  ),
  AGENT_PAUSE_TOOLS: Type.Boolean({
    default: false,
    description: 'offer the model pause_recording / resume_recording, for taking card details (secure mode)',
  }),
  AGENT_DTMF_TOOL: Type.Boolean({
    default: false,
    description:
      'offer the model send_dtmf, to press keys in an IVR (agent mode: RFC 4733 on SIP, in-band tones on the other carriers; the keys are never logged)',
  }),
  AGENT_TRANSFER_TARGETS: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'transfer_call destinations, name=number or SIP URI, comma-separated',
    }),
  ),
  AGENT_WEBHOOK_URL: Type.Optional(
    Type.String({ minLength: 1, description: 'bring your own agent: each caller turn is POSTed here' }),
  ),
  AGENT_WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 1, description: 'whsec_ secret signing agent webhook and HTTP tool requests' }),
  ),
  AGENT_WEBHOOK_TIMEOUT_MS: Ms(100, 120_000, 10_000, 'agent webhook and HTTP tool request timeout'),
  TTS_ENGINE: Type.Union([Type.Literal('flite'), Type.Literal('openai'), Type.Literal('kokoro')], {
    default: 'flite',
    description: 'flite (bundled, offline), openai (/v1/audio/speech), kokoro (kokoro-js, in-process)',
  }),
  TTS_BASE_URL: Type.String({
    minLength: 1,
    default: 'https://api.openai.com/v1',
    description: 'TTS_ENGINE=openai: OpenAI-compatible base URL',
  }),
  TTS_API_KEY: Type.Optional(Type.String({ minLength: 1, description: 'TTS_ENGINE=openai: API key' })),
  TTS_MODEL: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'TTS model (openai: tts-1; kokoro: onnx-community/Kokoro-82M-v1.0-ONNX)',
    }),
  ),
  TTS_VOICE: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'voice (flite: slt, kal16, awb, rms; openai: alloy; kokoro: af_heart)',
    }),
  ),
  TWILIO_ACCOUNT_SID: Type.Optional(
    Type.String({
      pattern: '^AC[0-9a-fA-F]{32}$',
      description: 'for end_call and transfer_call over Twilio REST',
    }),
  ),
  TWILIO_API_BASE_URL: Type.String({
    minLength: 1,
    default: 'https://api.twilio.com',
    description: 'Twilio REST origin (a proxy or test double)',
  }),
};
const AgentEnv = Type.Object(AgentEnvProperties);
type AgentEnv = Static<typeof AgentEnv> & { readonly TWILIO_AUTH_TOKEN?: string | undefined };

const ToolEntry = Type.Object(
  {
    name: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
    description: Type.String({ minLength: 1 }),
    url: Type.String(),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
const ToolsFile = Type.Object({ tools: Type.Array(ToolEntry) }, { additionalProperties: false });
export type HttpToolSpec = Static<typeof ToolEntry>;

export type TtsEngineName = 'flite' | 'openai' | 'kokoro';

export interface AgentConfig {
  readonly llm: {
    readonly baseUrl: string;
    readonly apiKey: string | undefined;
    readonly model: string;
    readonly temperature: number;
    readonly timeoutMs: number;
  };
  readonly systemPrompt: string;
  readonly greeting: string;
  readonly reprompt: string;
  readonly goodbye: string;
  readonly silenceMs: number;
  readonly maxReprompts: number;
  readonly turnSilenceMs: number;
  readonly earlyStart: boolean;
  readonly bargeInMinMs: number;
  readonly tools: readonly HttpToolSpec[];
  readonly transferTargets: Readonly<Record<string, string>>;
  /** Offer the model pause_recording / resume_recording (AGENT_PAUSE_TOOLS). */
  readonly pauseTools: boolean;
  /** Offer the model send_dtmf (AGENT_DTMF_TOOL). */
  readonly dtmfTool: boolean;
  readonly webhook: { readonly url: string; readonly secret: string | undefined } | undefined;
  /** Signs agent webhook and HTTP tool requests (Standard Webhooks). */
  readonly signingSecret: string | undefined;
  readonly webhookTimeoutMs: number;
  readonly tts: {
    readonly engine: TtsEngineName;
    readonly baseUrl: string;
    readonly apiKey: string | undefined;
    readonly model: string | undefined;
    readonly voice: string | undefined;
  };
  readonly twilioRest:
    | { readonly accountSid: string; readonly authToken: string; readonly baseUrl: string }
    | undefined;
}

export const DEFAULT_SYSTEM_PROMPT =
  'You are a helpful phone agent. You are speaking on a telephone call, so answer in one to three ' +
  'short spoken sentences, with no lists, markdown or emoji. If the caller asks for a person, use ' +
  'transfer_call. When the conversation is finished, say goodbye and use end_call.';

/** Builds the agent section, with its problems and warnings for loadConfig to report. */
export function agentConfigFrom(e: AgentEnv): ConfigPart<AgentConfig> {
  const problems: string[] = [];
  const warnings: string[] = [];
  for (const key of ['LLM_BASE_URL', 'TTS_BASE_URL', 'TWILIO_API_BASE_URL', 'AGENT_WEBHOOK_URL'] as const) {
    const value = e[key];
    if (value !== undefined && !/^https?:\/\/[^/]/.test(value)) {
      problems.push(`${key}: must be an http(s) URL (got ${JSON.stringify(value)})`);
    }
  }
  if (e.AGENT_SYSTEM_PROMPT && e.AGENT_SYSTEM_PROMPT_FILE) {
    problems.push('AGENT_SYSTEM_PROMPT and AGENT_SYSTEM_PROMPT_FILE: set one or the other, not both');
  }
  let systemPrompt = e.AGENT_SYSTEM_PROMPT ?? DEFAULT_SYSTEM_PROMPT;
  if (e.AGENT_SYSTEM_PROMPT_FILE) {
    try {
      systemPrompt = readFileSync(e.AGENT_SYSTEM_PROMPT_FILE, 'utf8').trim();
      if (!systemPrompt) problems.push(`AGENT_SYSTEM_PROMPT_FILE: ${e.AGENT_SYSTEM_PROMPT_FILE} is empty`);
    } catch (err) {
      problems.push(
        `AGENT_SYSTEM_PROMPT_FILE: cannot read ${e.AGENT_SYSTEM_PROMPT_FILE} (${(err as Error).message})`,
      );
    }
  }
  const secret = e.AGENT_WEBHOOK_SECRET;
  const secretProblem = secret === undefined ? undefined : checkSecret(secret);
  if (secretProblem) problems.push(`AGENT_WEBHOOK_SECRET: ${secretProblem}`);
  if (e.AGENT_WEBHOOK_URL && !secret) {
    warnings.push('AGENT_WEBHOOK_URL is set without AGENT_WEBHOOK_SECRET: agent turns are sent unsigned');
  }
  const tools = e.AGENT_TOOLS_FILE ? readTools(e.AGENT_TOOLS_FILE, problems) : [];
  const transferTargets = readTransferTargets(e.AGENT_TRANSFER_TARGETS, problems);
  const twilioRest =
    e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN
      ? {
          accountSid: e.TWILIO_ACCOUNT_SID,
          authToken: e.TWILIO_AUTH_TOKEN,
          baseUrl: trimSlash(e.TWILIO_API_BASE_URL),
        }
      : undefined;
  if (!twilioRest && Object.keys(transferTargets).length > 0) {
    warnings.push(
      'AGENT_TRANSFER_TARGETS without TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: SIP calls transfer with REFER, Twilio calls cannot transfer',
    );
  }
  if (e.TTS_ENGINE === 'flite' && e.TTS_VOICE && !(FLITE_VOICES as readonly string[]).includes(e.TTS_VOICE)) {
    problems.push(
      `TTS_VOICE: flite has the voices ${FLITE_VOICES.join(', ')} (got ${JSON.stringify(e.TTS_VOICE)})`,
    );
  }
  if (e.TTS_ENGINE === 'openai' && !e.TTS_API_KEY && e.TTS_BASE_URL.includes('api.openai.com')) {
    problems.push('TTS_ENGINE=openai with the OpenAI API needs TTS_API_KEY');
  }
  return {
    value: {
      llm: {
        baseUrl: trimSlash(e.LLM_BASE_URL),
        apiKey: e.LLM_API_KEY,
        model: e.LLM_MODEL,
        temperature: e.LLM_TEMPERATURE,
        timeoutMs: e.LLM_TIMEOUT_MS,
      },
      systemPrompt,
      greeting: e.AGENT_GREETING.trim() === 'none' ? '' : e.AGENT_GREETING.trim(),
      reprompt: e.AGENT_REPROMPT,
      goodbye: e.AGENT_GOODBYE,
      silenceMs: e.AGENT_SILENCE_MS,
      maxReprompts: e.AGENT_MAX_REPROMPTS,
      turnSilenceMs: e.AGENT_TURN_SILENCE_MS,
      earlyStart: e.AGENT_EARLY_START,
      bargeInMinMs: e.BARGE_IN_MIN_MS,
      tools,
      transferTargets,
      pauseTools: e.AGENT_PAUSE_TOOLS,
      dtmfTool: e.AGENT_DTMF_TOOL,
      webhook: e.AGENT_WEBHOOK_URL ? { url: e.AGENT_WEBHOOK_URL, secret } : undefined,
      signingSecret: secret,
      webhookTimeoutMs: e.AGENT_WEBHOOK_TIMEOUT_MS,
      tts: {
        engine: e.TTS_ENGINE,
        baseUrl: trimSlash(e.TTS_BASE_URL),
        apiKey: e.TTS_API_KEY,
        model: e.TTS_MODEL,
        voice: e.TTS_VOICE,
      },
      twilioRest,
    },
    problems,
    warnings,
  };
}

function readTools(file: string, problems: string[]): HttpToolSpec[] {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`AGENT_TOOLS_FILE: cannot read ${file} (${(err as Error).message})`);
    return [];
  }
  const errors = [...Value.Errors(ToolsFile, parsed)];
  if (errors.length > 0) {
    for (const error of errors) problems.push(`AGENT_TOOLS_FILE ${error.path || '/'}: ${error.message}`);
    return [];
  }
  const tools = (parsed as Static<typeof ToolsFile>).tools;
  const seen = new Set<string>(['end_call', 'transfer_call']);
  for (const tool of tools) {
    if (seen.has(tool.name)) problems.push(`AGENT_TOOLS_FILE: tool name ${tool.name} is taken`);
    seen.add(tool.name);
    if (!/^https?:\/\/[^/]/.test(tool.url))
      problems.push(`AGENT_TOOLS_FILE: ${tool.name}.url must be http(s)`);
  }
  return tools;
}

function readTransferTargets(value: string | undefined, problems: string[]): Record<string, string> {
  const targets: Record<string, string> = {};
  for (const entry of commaList(value)) {
    const match = /^([a-zA-Z0-9_-]{1,32})=(\+?[0-9]{3,15}|sips?:[^\s,<>"]+)$/.exec(entry);
    if (!match) {
      problems.push(`AGENT_TRANSFER_TARGETS: ${JSON.stringify(entry)} is not name=+number or name=sip:uri`);
      continue;
    }
    targets[match[1]] = match[2];
  }
  return targets;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
