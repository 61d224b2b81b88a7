import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiTts } from '../../../src/agent/tts/openai-tts.js';
import { isVoxlineError } from '../../../src/errors.js';
import { listenLoopback } from '../../doubles/loopback-server.js';

const requests: { auth: string | undefined; body: Record<string, unknown> }[] = [];
/** /v1/audio/speech as OpenAI answers `response_format: pcm`: raw 24 kHz 16-bit little-endian. */
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => {
    body += c;
  });
  req.on('end', () => {
    const parsed = JSON.parse(body);
    requests.push({ auth: req.headers.authorization, body: parsed });
    if (parsed.input === 'fail') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
      return;
    }
    const pcm = Buffer.alloc(24_000 * 2); // one second of a 440 Hz tone
    for (let i = 0; i < 24_000; i++)
      pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 24_000)), i * 2);
    res.writeHead(200, { 'content-type': 'audio/pcm' }).end(pcm);
  });
});
let url: string;
beforeAll(async () => {
  url = `${await listenLoopback(server)}/v1`;
});
afterAll(() => server.close());

describe('OpenAiTts: any OpenAI-compatible /v1/audio/speech', () => {
  it('asks for raw PCM with the model and voice, and returns it at 16 kHz', async () => {
    const tts = new OpenAiTts({
      baseUrl: url,
      apiKey: 'sk-tts',
      model: 'tts-1',
      voice: 'alloy',
      timeoutMs: 2_000,
    });
    const parts: Int16Array[] = [];
    for await (const pcm of tts.synthesize('Hello there.', new AbortController().signal)) parts.push(pcm);
    expect(requests.at(-1)).toEqual({
      auth: 'Bearer sk-tts',
      body: { model: 'tts-1', voice: 'alloy', input: 'Hello there.', response_format: 'pcm' },
    });
    expect(parts).toHaveLength(1);
    expect(parts[0].length).toBe(16_000);
    const peak = Math.max(...parts[0].subarray(1000, 15_000));
    expect(peak).toBeGreaterThan(7600);
    expect(peak).toBeLessThan(8400);
  });

  it('fails with VL_ERR_TTS_FAILED when the server does', async () => {
    const tts = new OpenAiTts({
      baseUrl: url,
      apiKey: 'k',
      model: 'tts-1',
      voice: 'alloy',
      timeoutMs: 2_000,
    });
    const run = async () => {
      for await (const _ of tts.synthesize('fail', new AbortController().signal)) break;
    };
    await expect(run()).rejects.toSatisfy((err) => isVoxlineError(err, 'VL_ERR_TTS_FAILED'));
  });
});
