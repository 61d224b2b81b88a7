import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SYSTEM_PROMPT } from '../../src/agent/agent-config.js';
import { loadConfig } from '../../src/config.js';
import { configError as problems } from '../helpers/config.js';

const ACCOUNT_SID = `AC${'a'.repeat(32)}`;

describe('voice agent configuration', () => {
  it('has defaults that speak offline (flite) to an OpenAI-compatible LLM', () => {
    const { agent } = loadConfig({});
    expect(agent).toMatchObject({
      llm: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini', timeoutMs: 15_000 },
      systemPrompt: DEFAULT_SYSTEM_PROMPT,
      greeting: 'Hello! How can I help you today?',
      silenceMs: 8_000,
      maxReprompts: 2,
      turnSilenceMs: 600,
      earlyStart: true,
      bargeInMinMs: 400,
      tools: [],
      transferTargets: {},
      webhook: undefined,
      tts: { engine: 'flite', voice: undefined },
      twilioRest: undefined,
    });
    expect(loadConfig({ AGENT_GREETING: 'none' }).agent.greeting).toBe('');
  });

  it('warns, in agent mode, about what keeps the agent from working', () => {
    expect(loadConfig({ CALL_MODE: 'agent', ASR_ENGINE: 'none' }).warnings).toEqual(
      expect.arrayContaining([
        'CALL_MODE=agent with no speech engine: the agent cannot hear callers',
        'CALL_MODE=agent: LLM_API_KEY is not set for the OpenAI API (or set LLM_BASE_URL)',
      ]),
    );
  });

  it('reads the system prompt, HTTP tools and transfer targets, and checks them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxline-agent-'));
    writeFileSync(join(dir, 'prompt.txt'), 'You are the front desk of a dental clinic.\n');
    writeFileSync(
      join(dir, 'tools.yaml'),
      'tools:\n  - name: order_status\n    description: Look up an order\n    url: https://shop.example.com/tools/order\n' +
        '    parameters: { type: object, properties: { order: { type: string } } }\n',
    );
    const { agent } = loadConfig({
      AGENT_SYSTEM_PROMPT_FILE: join(dir, 'prompt.txt'),
      AGENT_TOOLS_FILE: join(dir, 'tools.yaml'),
      AGENT_TRANSFER_TARGETS: 'sales=+15550001111, support=sip:support@pbx.example.com',
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: 'token',
    });
    expect(agent.systemPrompt).toBe('You are the front desk of a dental clinic.');
    expect(agent.tools.map((t) => t.name)).toEqual(['order_status']);
    expect(agent.transferTargets).toEqual({ sales: '+15550001111', support: 'sip:support@pbx.example.com' });
    expect(agent.twilioRest).toEqual({
      accountSid: ACCOUNT_SID,
      authToken: 'token',
      baseUrl: 'https://api.twilio.com',
    });
  });

  it('lists every agent problem at start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxline-agent-'));
    writeFileSync(
      join(dir, 'tools.json'),
      JSON.stringify({ tools: [{ name: 'end_call', description: 'x', url: 'ftp://x' }] }),
    );
    const message = problems({
      AGENT_TOOLS_FILE: join(dir, 'tools.json'),
      AGENT_TRANSFER_TARGETS: 'sales=call me maybe',
      AGENT_SYSTEM_PROMPT: 'a',
      AGENT_SYSTEM_PROMPT_FILE: join(dir, 'missing.txt'),
      AGENT_WEBHOOK_SECRET: 'hunter2',
      TTS_VOICE: 'hal9000',
      LLM_BASE_URL: 'localhost:11434',
    });
    expect(message).toContain('AGENT_TOOLS_FILE: tool name end_call is taken');
    expect(message).toContain('AGENT_TOOLS_FILE: end_call.url must be http(s)');
    expect(message).toContain(
      'AGENT_TRANSFER_TARGETS: "sales=call me maybe" is not name=+number or name=sip:uri',
    );
    expect(message).toContain('AGENT_SYSTEM_PROMPT and AGENT_SYSTEM_PROMPT_FILE: set one or the other');
    expect(message).toContain('AGENT_SYSTEM_PROMPT_FILE: cannot read');
    expect(message).toContain('AGENT_WEBHOOK_SECRET: must start with whsec_');
    expect(message).toContain('TTS_VOICE: flite has the voices slt, kal16, awb, rms, kal');
    expect(message).toContain('LLM_BASE_URL: must be an http(s) URL');
    // Transfers without Twilio REST still work on SIP calls (REFER): a warning, not a refusal.
    expect(
      loadConfig({ CALL_MODE: 'agent', AGENT_TRANSFER_TARGETS: 'sales=+15550001111' }).warnings,
    ).toContainEqual(expect.stringContaining('SIP calls transfer with REFER, Twilio calls cannot transfer'));
    expect(problems({ AGENT_TRANSFER_TARGETS: 'desk=sip:a@b>;x=1' })).toContain(
      'AGENT_TRANSFER_TARGETS: "desk=sip:a@b>;x=1" is not name=+number or name=sip:uri',
    );
    expect(problems({ TTS_ENGINE: 'openai' })).toContain(
      'TTS_ENGINE=openai with the OpenAI API needs TTS_API_KEY',
    );
  });
});
