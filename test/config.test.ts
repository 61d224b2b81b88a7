import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from '../src/config.js';
import { CONFIG_REFERENCE_PATH, withConfigReference } from './docs/config-reference.js';
import { configError } from './helpers/config.js';

describe('configuration', () => {
  it('has working defaults for `npm start` with nothing set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'http://localhost:8080',
      dataDir: './data',
      logLevel: 'info',
      logFormat: 'auto',
      adminToken: undefined,
      twilio: {
        authToken: undefined,
        validate: true,
        mode: 'transcribe',
      },
      legs: { inbound: 'caller', outbound: 'agent' },
      media: { reorderWindowMs: 60, maxGapFillMs: 10_000, idleTimeoutMs: 15_000, maxMessageBytes: 65_536 },
      calls: { maxLive: 2000, historyLimit: 1000, shutdownDrainMs: 30_000 },
    });
  });

  it('warns loudly about what will not work without settings', () => {
    expect(loadConfig({}).warnings).toEqual([
      'TWILIO_AUTH_TOKEN is not set: every Twilio webhook and media stream will be refused (403)',
      'PUBLIC_URL is not set: using http://localhost:8080, which Twilio cannot reach',
      'ADMIN_TOKEN is not set: /v1 (call details) is open to anyone who can reach it',
      'neither TWILIO_DIAL nor TWILIO_CONTINUE_URL is set: transcribed callers will hear silence',
    ]);
    expect(loadConfig({ TWILIO_VALIDATE: 'false' }).warnings[0]).toMatch(
      /NOT checked; anyone can open a media stream/,
    );
  });

  it('reads and converts every value, trimming whitespace and ignoring empty ones', () => {
    const config = loadConfig({
      PORT: ' 9000 ',
      PUBLIC_URL: 'https://voxline.example.com/',
      TWILIO_AUTH_TOKEN: 'abc',
      TWILIO_VALIDATE: 'true',
      CALL_MODE: 'agent',
      LEG_LABEL_INBOUND: 'customer',
      REORDER_WINDOW_MS: '0',
      ADMIN_TOKEN: '0123456789abcdef',
      HOST: '',
      VLLM_URL: 'http://gpu-1:8000, http://gpu-2:8000',
      LLM_API_KEY: 'sk-test',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      publicUrl: 'https://voxline.example.com',
      adminToken: '0123456789abcdef',
      twilio: { authToken: 'abc', mode: 'agent' },
      legs: { inbound: 'customer', outbound: 'agent' },
      media: { reorderWindowMs: 0 },
      asr: { engine: 'vllm', vllm: { urls: ['http://gpu-1:8000', 'http://gpu-2:8000'] } },
    });
    expect(config.warnings).toEqual([]);
  });

  it('lists every problem at once, naming the variable and the value it got', () => {
    const message = configError({
      PORT: 'eighty',
      TWILIO_VALIDATE: 'flase',
      LOG_LEVEL: 'loud',
      MEDIA_IDLE_TIMEOUT_MS: '5',
    });
    expect(message.split('\n').slice(1)).toEqual([
      '  PORT: expected an integer from 0 to 65535 (got "eighty")',
      '  TWILIO_VALIDATE: expected true or false (got "flase")',
      '  LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      '  MEDIA_IDLE_TIMEOUT_MS: expected an integer from 100 to 3600000 (got 5)',
    ]);
  });

  it('reports the problems of the after-the-call and alert settings with the others', () => {
    const message = configError({
      POSTCALL_ENGINE: 'openai',
      ANALYSIS_LLM_BASE_URL: 'ftp://models.example.com',
      ALERT_RULES_FILE: '/nonexistent/voxline-alert-rules.yaml',
    });
    expect(message).toMatch(/POSTCALL_BASE_URL/);
    expect(message).toMatch(/ANALYSIS_LLM_BASE_URL/);
    expect(message).toMatch(/ALERT_RULES_FILE/);
  });

  it('reports type errors and the rules that span variables in one pass, each under its own variable', () => {
    const message = configError({
      LOG_LEVEL: 'loud',
      TWILIO_DIAL: '+1555',
      TWILIO_CONTINUE_URL: 'https://x.example.com',
    });
    expect(message.split('\n').slice(1)).toEqual([
      '  LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      '  TWILIO_DIAL and TWILIO_CONTINUE_URL: set one or the other, not both',
    ]);
  });

  it('refuses a credential with a non-ASCII placeholder (a pasted `sk-…`) at start, and never echoes a secret', () => {
    const message = configError({ ASR_ENGINE: 'mistral', MISTRAL_API_KEY: 'sk-…your-key-here' });
    expect(message).toContain(
      'MISTRAL_API_KEY: character 4 is "…" (U+2026); a credential is plain ASCII (a placeholder pasted from an example?) (got 17 characters)',
    );
    expect(message).not.toContain('your-key-here');
    // The rule that needs the key does not pile on: the key itself is the problem.
    expect(message).not.toContain('needs MISTRAL_API_KEY');
    expect(configError({ ADMIN_TOKEN: 'short-secret' })).toBe(
      'invalid configuration: \n  ADMIN_TOKEN: expected at least 16 characters (got 12 characters)',
    );
    expect(configError({ TWILIO_AUTH_TOKEN: 'abc def' })).toContain('character 4 is a space');
  });

  it('checks rules that span variables', () => {
    expect(configError({ TWILIO_DIAL: '+1555', TWILIO_CONTINUE_URL: 'https://x.example.com' })).toContain(
      'TWILIO_DIAL and TWILIO_CONTINUE_URL: set one or the other, not both',
    );
    expect(configError({ LEG_LABEL_INBOUND: 'agent' })).toContain('must differ');
    expect(configError({ PUBLIC_URL: 'https://x.example.com/voxline' })).toContain('must be an origin only');
    expect(configError({ PUBLIC_URL: 'wss://x.example.com' })).toContain('must start with https://');
    expect(configError({ PUBLIC_URL: 'not a url' })).toContain('PUBLIC_URL: not a URL');
    expect(configError({ TWILIO_CONTINUE_URL: 'ftp://x' })).toContain(
      'TWILIO_CONTINUE_URL: must be an http(s) URL',
    );
    expect(configError({ ADMIN_TOKEN: 'short' })).toContain('ADMIN_TOKEN');
    expect(configError({ LEG_LABEL_OUTBOUND: 'Agent Smith' })).toContain('LEG_LABEL_OUTBOUND');
  });

  it('picks the speech engine from what is configured, and refuses what cannot work', () => {
    expect(loadConfig({}).asr).toMatchObject({
      engine: 'local',
      local: {
        model: 'onnx-community/Voxtral-Mini-4B-Realtime-2602-ONNX',
        dtype: 'q4',
        device: 'cpu',
        instances: 1,
        cacheDir: './data/models',
        endpoint: 'https://huggingface.co',
      },
    });
    expect(loadConfig({ HF_HOME: '/models', DATA_DIR: '/var/voxline' }).asr.local.cacheDir).toBe('/models');
    expect(loadConfig({ ASR_ENGINE: 'none' }).warnings).toContain(
      'ASR_ENGINE=none: calls are not transcribed',
    );
    expect(loadConfig({ LOCAL_DTYPE: 'q4f16' }).warnings[4]).toMatch(
      /q4f16 on the CPU: half-precision weights are meant for a GPU/,
    );
    expect(loadConfig({ VLLM_URL: 'ws://gpu:8000' }).asr.engine).toBe('vllm');
    expect(loadConfig({ MISTRAL_API_KEY: 'k' }).asr).toMatchObject({
      engine: 'mistral',
      mistral: { baseUrl: 'https://api.mistral.ai', audioFormat: 'pcm16', delayMs: 480 },
    });
    expect(configError({ ASR_ENGINE: 'vllm' })).toContain('ASR_ENGINE=vllm needs VLLM_URL');
    expect(configError({ ASR_ENGINE: 'mistral' })).toContain('ASR_ENGINE=mistral needs MISTRAL_API_KEY');
    expect(configError({ VLLM_URL: 'gpu:8000' })).toContain(
      'VLLM_URL: "gpu:8000" is not an http(s):// or ws(s):// URL',
    );
    expect(configError({ ASR_BUFFER_MS: '30000' })).toContain('at least UTTERANCE_MAX_MS + 5000 (65000)');
    expect(configError({ VAD_THRESHOLD: '2' })).toContain('VAD_THRESHOLD');
  });

  it('refuses bad webhook endpoints at start, naming each problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxline-config-'));
    const file = join(dir, 'webhooks.yaml');
    writeFileSync(
      file,
      'endpoints:\n  - url: ftp://x\n    secret: hunter2\n    events: [transcript.everything]\n',
    );
    const message = configError({ WEBHOOKS_FILE: file });
    expect(message).toContain('endpoints[0]: url must be an http(s) URL (got "ftp://x")');
    expect(message).toContain('endpoints[0]: secret must start with whsec_');
    expect(message).toContain('unknown event "transcript.everything"');
    writeFileSync(file, 'endpoints:\n  - url: https://x.example.com\n    secrett: whsec_abc\n');
    expect(configError({ WEBHOOKS_FILE: file })).toMatch(/endpoints\/0.*Unexpected property/);
    expect(configError({ WEBHOOKS_FILE: join(dir, 'missing.yaml') })).toContain('WEBHOOKS_FILE: cannot read');
    expect(configError({ WEBHOOK_URL: 'https://x.example.com/hooks' })).toContain('a secret is required');
    expect(configError({ WEBHOOK_SECRET: `whsec_${'A'.repeat(44)}` })).toContain('need WEBHOOK_URL');
  });

  it('documents every variable it reads in docs/configuration.md, generated from the schema, and none it does not', () => {
    const doc = readFileSync(CONFIG_REFERENCE_PATH, 'utf8');
    expect(doc, 'docs/configuration.md is out of date: run npm run docs:config').toBe(
      withConfigReference(doc),
    );
    const documented = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(EnvSchema.properties).sort());
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.legs)).toBe(true);
    expect(() => {
      (config.media as { idleTimeoutMs: number }).idleTimeoutMs = 1;
    }).toThrow(TypeError);
  });
});
