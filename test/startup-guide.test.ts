import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type StartupFacts, startupGuide } from '../src/startup-guide.js';

function factsFrom(env: Record<string, string>, ports: StartupFacts['ports'] = {}): StartupFacts {
  const config = loadConfig(env);
  return {
    localUrl: 'http://localhost:8080',
    publicUrl: config.publicUrl,
    asr: config.asr,
    twilioTokenSet: config.twilio.authToken !== undefined,
    ports,
    warnings: config.warnings,
  };
}

describe('the block `npm start` shows at a terminal', () => {
  it('with nothing configured: the model download, what is not set, the demo command with a token, and what to do offline', () => {
    const guide = startupGuide(factsFrom({}));
    expect(guide).toContain('voxline is listening on http://localhost:8080');
    expect(guide).toContain('in-process Voxtral Realtime (q4 on cpu): the first start downloads the model');
    expect(guide).toContain('./data/models');
    expect(guide).toContain('TWILIO_AUTH_TOKEN is not set');
    expect(guide).toContain(
      'TWILIO_AUTH_TOKEN=dev-token npm run simulate -- --caller media/demo/support-call.caller.wav',
    );
    expect(guide).toContain('--url ws://localhost:8080/twilio/media');
    expect(guide).toContain('curl http://localhost:8080/v1/calls');
    expect(guide).toMatch(/LOCAL_MODEL_PATH[\s\S]*VLLM_URL or MISTRAL_API_KEY[\s\S]*ASR_ENGINE=none/);
    expect(guide).not.toMatch(/error|stack/i);
  });

  it('names the engine that is configured, the edges that listen, and leaves out advice that does not apply', () => {
    const guide = startupGuide(
      factsFrom(
        { VLLM_URL: 'http://gpu-1:8000', TWILIO_AUTH_TOKEN: 'tok', PUBLIC_URL: 'https://vox.example.com' },
        { sip: 5060, audioSocket: 9092 },
      ),
    );
    expect(guide).toContain('vLLM at http://gpu-1:8000 (mistralai/Voxtral-Mini-4B-Realtime-2602)');
    expect(guide).toContain('voice webhook https://vox.example.com/twilio/voice');
    expect(guide).toContain('SIP      udp and tcp port 5060');
    expect(guide).toContain('AudioSocket on tcp port 9092');
    expect(guide).toContain('  npm run simulate --');
    expect(guide).not.toContain('dev-token');
    expect(guide).not.toContain('LOCAL_MODEL_PATH');
  });

  it('with ASR_ENGINE=none says calls get no words, and how to get them', () => {
    const guide = startupGuide(factsFrom({ ASR_ENGINE: 'none' }));
    expect(guide).toContain(
      'off (ASR_ENGINE=none): calls are answered, recorded and sent as events, without words',
    );
    expect(guide).toContain('for words, set VLLM_URL or MISTRAL_API_KEY');
  });
});
