import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVoxlineError, type VoxlineError } from '../../src/errors.js';
import type { BatchRequest } from '../../src/postcall/batch-transcription.js';
import { monoWav } from '../../src/postcall/chunk-wav.js';
import { type OpenAiBatchOptions, OpenAiBatchTranscriber } from '../../src/postcall/openai-batch.js';
import { OpenAiTranscriptionDouble, openAiError } from '../doubles/openai-transcription-double.js';
import { ManualClock } from '../helpers/manual-clock.js';

const KEY = 'sk-openai-test-0123456789';
const TIMEOUT_MS = 30_000;

function wav(): Uint8Array {
  const samples = new Int16Array(4_000);
  for (let i = 0; i < samples.length; i++) samples[i] = ((i * 257) % 65_536) - 32_768;
  samples.set([0x0a0d, 0x2d2d, 0x0a0d, 0x2d2d], 100);
  return monoWav(samples, 16_000);
}

const request = (over: Partial<BatchRequest> = {}): BatchRequest => ({
  wav: wav(),
  fileName: 'CA1-agent-0.wav',
  durationMs: 9_000,
  contextBias: ['Voxline', 'Acme Cloud'],
  diarize: true,
  language: 'en',
  ...over,
});

async function rejection(promise: Promise<unknown>): Promise<VoxlineError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isVoxlineError(err)) throw new Error(`expected a VoxlineError, got ${String(err)}`);
  return err;
}

describe('OpenAiBatchTranscriber', () => {
  let double: OpenAiTranscriptionDouble;
  let clock: ManualClock;
  let engine: OpenAiBatchTranscriber;
  const make = (over: Partial<OpenAiBatchOptions> = {}) =>
    new OpenAiBatchTranscriber({
      baseUrl: `${double.url}/v1`,
      apiKey: KEY,
      model: 'mistralai/Voxtral-Mini-3B-2507',
      timeoutMs: TIMEOUT_MS,
      maxChunkMs: 600_000,
      clock,
      ...over,
    });

  beforeEach(async () => {
    double = new OpenAiTranscriptionDouble(KEY);
    await double.listen();
    clock = new ManualClock();
    engine = make();
  });
  afterEach(() => double.close());

  it('asks for verbose_json with word and segment times, the bias as the prompt, the WAV unchanged', async () => {
    const sent = request();
    await engine.transcribe(sent, new AbortController().signal);
    const [received] = double.requests;
    expect(received?.authorization).toBe(`Bearer ${KEY}`);
    const values = (name: string) => received?.parts.filter((p) => p.name === name).map((p) => p.value);
    expect(values('model')).toEqual(['mistralai/Voxtral-Mini-3B-2507']);
    expect(values('response_format')).toEqual(['verbose_json']);
    // The openai package's array form, which OpenAI and vLLM read.
    expect(values('timestamp_granularities[]')).toEqual(['word', 'segment']);
    expect(values('prompt')).toEqual(['Voxline, Acme Cloud']);
    expect(values('language')).toEqual(['en']);
    // No diarization on this wire.
    expect(values('diarize')).toEqual([]);
    const file = received?.parts.find((p) => p.name === 'file');
    expect(file?.fileName).toBe('CA1-agent-0.wav');
    expect(file?.contentType).toBe('audio/wav');
    expect(Buffer.compare(file?.bytes ?? Buffer.alloc(0), Buffer.from(sent.wav))).toBe(0);
  });

  it('sends no prompt or language where there are none', async () => {
    await engine.transcribe(request({ contextBias: [], language: undefined }), new AbortController().signal);
    const names = double.requests[0]?.parts.map((p) => p.name);
    expect(names).not.toContain('prompt');
    expect(names).not.toContain('language');
  });

  it('puts each word in its segment, in ms, with no speaker', async () => {
    double.answer({
      kind: 'transcription',
      language: 'english',
      segments: [
        { text: ' Thanks for calling Acme.', start: 0.4, end: 2.0 },
        { text: ' How can I help?', start: 2.6, end: 3.9 },
      ],
      words: [
        { word: 'Thanks', start: 0.4, end: 0.7 },
        { word: 'for', start: 0.7, end: 0.85 },
        { word: 'calling', start: 0.85, end: 1.3 },
        { word: 'Acme.', start: 1.3, end: 2.1 },
        // Between the segments, nearer the second.
        { word: 'How', start: 2.4, end: 2.7 },
        { word: 'can', start: 2.7, end: 2.9 },
        { word: 'I', start: 2.9, end: 3.0 },
        { word: 'help?', start: 3.0, end: 3.9 },
      ],
    });
    const result = await engine.transcribe(request(), new AbortController().signal);
    expect(result.model).toBe('mistralai/Voxtral-Mini-3B-2507');
    expect(result.language).toBe('english');
    expect(result.text).toBe('Thanks for calling Acme. How can I help?');
    expect(result.segments).toEqual([
      {
        text: ' Thanks for calling Acme.',
        startMs: 400,
        endMs: 2_000,
        speakerId: null,
        words: [
          { word: 'Thanks', startMs: 400, endMs: 700 },
          { word: 'for', startMs: 700, endMs: 850 },
          { word: 'calling', startMs: 850, endMs: 1_300 },
          { word: 'Acme.', startMs: 1_300, endMs: 2_100 },
        ],
      },
      {
        text: ' How can I help?',
        startMs: 2_600,
        endMs: 3_900,
        speakerId: null,
        words: [
          { word: 'How', startMs: 2_400, endMs: 2_700 },
          { word: 'can', startMs: 2_700, endMs: 2_900 },
          { word: 'I', startMs: 2_900, endMs: 3_000 },
          { word: 'help?', startMs: 3_000, endMs: 3_900 },
        ],
      },
    ]);
  });

  it('takes a server without word times (vLLM sends words: null)', async () => {
    double.answer({
      kind: 'transcription',
      segments: [{ text: ' Hello.', start: 0, end: 1.2 }],
      words: null,
    });
    const result = await engine.transcribe(request(), new AbortController().signal);
    expect(result.segments).toEqual([
      { text: ' Hello.', startMs: 0, endMs: 1_200, speakerId: null, words: [] },
    ]);
  });

  it('429 with Retry-After is worth retrying, and the package itself does not retry', async () => {
    double.answer({
      kind: 'error',
      status: 429,
      body: openAiError('Rate limit reached', 'requests', 'rate_limit_exceeded'),
      retryAfter: '12',
    });
    const err = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([err.code, err.retryable, err.retryAfterS]).toEqual(['VL_ERR_BATCH_ENGINE', true, 12]);
    expect(err.message).toContain('HTTP 429: Rate limit reached (rate_limit_exceeded)');
    expect(double.requests).toHaveLength(1);
  });

  it('500 is worth retrying, sent once', async () => {
    double.answer({
      kind: 'error',
      status: 500,
      body: openAiError('The server had an error', 'server_error', null),
    });
    const err = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([err.code, err.retryable, err.retryAfterS]).toEqual(['VL_ERR_BATCH_ENGINE', true, undefined]);
    expect(double.requests).toHaveLength(1);
  });

  it('a wrong key (401) is refused for good, and the key the server quotes back is not in the error', async () => {
    const wrong = 'sk-wrong-key-9876543210';
    const err = await rejection(make({ apiKey: wrong }).transcribe(request(), new AbortController().signal));
    expect([err.code, err.retryable]).toEqual(['VL_ERR_BATCH_REJECTED', false]);
    expect(err.message).toContain('HTTP 401: Incorrect API key provided');
    expect(err.message).not.toContain(wrong);
  });

  it('400 and 422 are refused for good, with the server’s reason in either body shape', async () => {
    double.answer(
      { kind: 'error', status: 422, body: openAiError('Unsupported audio format', 'BadRequestError', null) },
      // FastAPI's own shape (Whisper servers), which the openai package does not read.
      { kind: 'error', status: 400, body: { detail: 'Maximum clip duration exceeded' } },
    );
    const invalid = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([invalid.code, invalid.message]).toEqual([
      'VL_ERR_BATCH_REJECTED',
      expect.stringContaining('HTTP 422: Unsupported audio format (BadRequestError)'),
    ]);
    const long = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([long.code, long.message]).toEqual([
      'VL_ERR_BATCH_REJECTED',
      expect.stringContaining('HTTP 400: Maximum clip duration exceeded'),
    ]);
  });

  it('a 200 that is not a verbose_json transcription is an engine error', async () => {
    double.answer(
      { kind: 'malformed', body: '{"text": "hi", "segments": [{"text": "hi"}' },
      { kind: 'malformed', body: JSON.stringify({ text: 'hi', segments: [{ text: 'hi', start: '0' }] }) },
      { kind: 'malformed', body: 'Hello there.', contentType: 'text/plain' },
    );
    for (const reason of ['not JSON', '(/segments:', 'not a verbose_json transcription']) {
      const err = await rejection(engine.transcribe(request(), new AbortController().signal));
      expect([err.code, err.message]).toEqual(['VL_ERR_BATCH_ENGINE', expect.stringContaining(reason)]);
    }
  });

  it('the caller’s abort ends a request in flight at once, with the caller’s reason', async () => {
    double.answer({ kind: 'hang' });
    const controller = new AbortController();
    const pending = engine.transcribe(request(), controller.signal);
    await double.received(0);
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('gives up on a request that takes longer than the timeout (on the injected clock)', async () => {
    double.answer({ kind: 'hang' });
    const pending = rejection(engine.transcribe(request(), new AbortController().signal));
    await double.received(0);
    await clock.advance(TIMEOUT_MS);
    const err = await pending;
    expect([err.code, err.message]).toEqual([
      'VL_ERR_BATCH_ENGINE',
      expect.stringContaining(`no answer within ${TIMEOUT_MS} ms`),
    ]);
  });

  it('an engine that cannot be reached is worth retrying', async () => {
    const url = double.url;
    await double.close();
    const err = await rejection(
      make({ baseUrl: `${url}/v1` }).transcribe(request(), new AbortController().signal),
    );
    expect(err.code).toBe('VL_ERR_BATCH_ENGINE');
    double = new OpenAiTranscriptionDouble(KEY);
    await double.listen();
  });
});
