import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isVoxlineError, type VoxlineError } from '../../src/errors.js';
import type { BatchRequest } from '../../src/postcall/batch-transcription.js';
import { monoWav } from '../../src/postcall/chunk-wav.js';
import { type MistralBatchOptions, MistralBatchTranscriber } from '../../src/postcall/mistral-batch.js';
import { MistralBatchDouble, mistralError } from '../doubles/mistral-batch-double.js';
import { ManualClock } from '../helpers/manual-clock.js';

const KEY = 'sk-mistral-test-0123456789';
const TIMEOUT_MS = 30_000;

/** Samples that put every byte value, CR LF and `--` into the file, so any mangling shows. */
function wav(): Uint8Array {
  const samples = new Int16Array(4_000);
  for (let i = 0; i < samples.length; i++) samples[i] = ((i * 257) % 65_536) - 32_768;
  samples.set([0x0a0d, 0x2d2d, 0x0a0d, 0x2d2d], 100);
  return monoWav(samples, 8_000);
}

const request = (over: Partial<BatchRequest> = {}): BatchRequest => ({
  wav: wav(),
  fileName: 'CA1-caller-0.wav',
  durationMs: 12_000,
  contextBias: ['Voxline', 'Acme Cloud', 'SIP, trunk'],
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

describe('MistralBatchTranscriber', () => {
  let double: MistralBatchDouble;
  let clock: ManualClock;
  let engine: MistralBatchTranscriber;
  const make = (over: Partial<MistralBatchOptions> = {}) =>
    new MistralBatchTranscriber({
      baseUrl: double.url,
      apiKey: KEY,
      model: 'voxtral-mini-2602',
      timeoutMs: TIMEOUT_MS,
      maxChunkMs: 900_000,
      clock,
      ...over,
    });

  beforeEach(async () => {
    double = new MistralBatchDouble(KEY);
    await double.listen();
    clock = new ManualClock();
    engine = make();
  });
  afterEach(() => double.close());

  it('sends Mistral’s multipart fields: model, diarize, both granularities, each bias term, the WAV unchanged', async () => {
    const sent = request();
    await engine.transcribe(sent, new AbortController().signal);
    const [received] = double.requests;
    expect(received?.authorization).toBe(`Bearer ${KEY}`);
    expect(received?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    const values = (name: string) => received?.parts.filter((p) => p.name === name).map((p) => p.value);
    expect(values('model')).toEqual(['voxtral-mini-2602']);
    expect(values('diarize')).toEqual(['true']);
    // Arrays go as the field repeated (the SDK's appendForm), not as JSON.
    expect(values('timestamp_granularities')).toEqual(['segment', 'word']);
    // No spaces or commas in a term (openapi ^[^,\s]+$): a phrase's words joined by `_`.
    expect(values('context_bias')).toEqual(['Voxline', 'Acme_Cloud', 'SIP_trunk']);
    // Mistral: timestamp_granularities "is currently not compatible with language".
    expect(values('language')).toEqual([]);
    const file = received?.parts.find((p) => p.name === 'file');
    expect(file?.fileName).toBe('CA1-caller-0.wav');
    expect(file?.contentType).toBe('audio/wav');
    expect(Buffer.compare(file?.bytes ?? Buffer.alloc(0), Buffer.from(sent.wav))).toBe(0);
  });

  it('leaves diarize out when not asked, and sends the language when no timestamps are asked for', async () => {
    await make({ timestampGranularities: [] }).transcribe(
      request({ diarize: false, contextBias: [] }),
      new AbortController().signal,
    );
    const names = double.requests[0]?.parts.map((p) => p.name);
    expect(names).toEqual(['model', 'language', 'file']);
    expect(double.requests[0]?.parts.find((p) => p.name === 'language')?.value).toBe('en');
  });

  it('nests word chunks in the phrase chunks of their speaker, in ms', async () => {
    double.answer({
      kind: 'transcription',
      segments: [
        { text: ' Hello there, Acme.', start: 0.5, end: 1.9, speaker_id: 'speaker_0' },
        { text: 'Yeah.', start: 1.2, end: 1.4, speaker_id: 'speaker_1' },
        { text: ' Yes.', start: 2.4, end: 2.8, speaker_id: 'speaker_1' },
        { text: 'Hello', start: 0.5, end: 0.8, speaker_id: 'speaker_0' },
        { text: 'there,', start: 0.85, end: 1.2, speaker_id: 'speaker_0' },
        { text: 'Acme.', start: 1.3, end: 1.9, speaker_id: 'speaker_0' },
        { text: 'Yes.', start: 2.45, end: 2.75, speaker_id: 'speaker_1' },
      ],
    });
    const result = await engine.transcribe(request(), new AbortController().signal);
    expect(result.model).toBe('voxtral-mini-2602');
    expect(result.language).toBeNull();
    expect(result.segments).toEqual([
      {
        text: ' Hello there, Acme.',
        startMs: 500,
        endMs: 1_900,
        speakerId: 'speaker_0',
        words: [
          { word: 'Hello', startMs: 500, endMs: 800 },
          { word: 'there,', startMs: 850, endMs: 1_200 },
          { word: 'Acme.', startMs: 1_300, endMs: 1_900 },
        ],
      },
      // The other speaker's backchannel under that sentence is not one of its words.
      {
        text: 'Yeah.',
        startMs: 1_200,
        endMs: 1_400,
        speakerId: 'speaker_1',
        words: [{ word: 'Yeah.', startMs: 1_200, endMs: 1_400 }],
      },
      // A one-word utterance came twice (phrase and word chunk): one segment.
      {
        text: ' Yes.',
        startMs: 2_400,
        endMs: 2_800,
        speakerId: 'speaker_1',
        words: [{ word: ' Yes.', startMs: 2_400, endMs: 2_800 }],
      },
    ]);
  });

  it('groups an answer of word chunks only into segments: a new speaker, a sentence end or a pause starts one', async () => {
    double.answer({
      kind: 'transcription',
      segments: [
        { text: 'Good', start: 0.2, end: 0.4, speaker_id: 'speaker_0' },
        { text: 'morning.', start: 0.45, end: 0.9, speaker_id: 'speaker_0' },
        { text: 'How', start: 1.0, end: 1.2, speaker_id: 'speaker_0' },
        { text: 'can', start: 1.25, end: 1.4, speaker_id: 'speaker_0' },
        { text: 'Hi', start: 1.5, end: 1.7, speaker_id: 'speaker_1' },
        { text: 'there', start: 3.0, end: 3.3, speaker_id: 'speaker_1' },
      ],
    });
    const result = await engine.transcribe(request(), new AbortController().signal);
    expect(result.segments.map((s) => [s.text, s.startMs, s.endMs, s.speakerId, s.words.length])).toEqual([
      ['Good morning.', 200, 900, 'speaker_0', 2],
      ['How can', 1_000, 1_400, 'speaker_0', 2],
      ['Hi', 1_500, 1_700, 'speaker_1', 1],
      ['there', 3_000, 3_300, 'speaker_1', 1],
    ]);
  });

  it('reads an answer of phrase chunks only (the documented diarized shape) as segments without words', async () => {
    double.answer({
      kind: 'transcription',
      segments: [
        { text: ' This week, I traveled to Chicago.', start: 0.8, end: 8.1, speaker_id: 'speaker_1' },
        { text: ' Thanks.', start: 8.9, end: 9.4, speaker_id: 'speaker_2' },
        { text: ' It was an opportunity.', start: 9.9, end: 10.9, speaker_id: null },
      ],
    });
    const result = await engine.transcribe(request(), new AbortController().signal);
    expect(result.segments).toEqual([
      {
        text: ' This week, I traveled to Chicago.',
        startMs: 800,
        endMs: 8_100,
        speakerId: 'speaker_1',
        words: [],
      },
      { text: ' Thanks.', startMs: 8_900, endMs: 9_400, speakerId: 'speaker_2', words: [] },
      { text: ' It was an opportunity.', startMs: 9_900, endMs: 10_900, speakerId: null, words: [] },
    ]);
  });

  it('keeps the text of an answer without segments as one segment over the whole chunk', async () => {
    double.answer({ kind: 'transcription', segments: [], text: 'Hello there.' });
    const result = await engine.transcribe(request({ durationMs: 4_321 }), new AbortController().signal);
    expect(result.segments).toEqual([
      { text: 'Hello there.', startMs: 0, endMs: 4_321, speakerId: null, words: [] },
    ]);
  });

  it('429 with Retry-After is worth retrying, after the seconds Mistral gave (or until its date)', async () => {
    double.answer(
      {
        kind: 'error',
        status: 429,
        body: mistralError('Requests rate limit exceeded', 'rate_limited', '1300'),
        retryAfter: '7',
      },
      {
        kind: 'error',
        status: 503,
        body: { detail: 'busy' },
        retryAfter: new Date(clock.wallNow() + 30_000).toUTCString(),
      },
    );
    const limited = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect(limited.code).toBe('VL_ERR_BATCH_ENGINE');
    expect(limited.retryable).toBe(true);
    expect(limited.retryAfterS).toBe(7);
    expect(limited.message).toContain('HTTP 429: Requests rate limit exceeded (1300)');
    const busy = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect(busy.retryAfterS).toBe(30);
  });

  it('500 is worth retrying, with no Retry-After of its own', async () => {
    double.answer({
      kind: 'error',
      status: 500,
      body: mistralError('Internal server error', 'internal_error'),
    });
    const err = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([err.code, err.retryable, err.retryAfterS]).toEqual(['VL_ERR_BATCH_ENGINE', true, undefined]);
  });

  it('a wrong key (401) is refused for good, and the key is not in the error', async () => {
    const wrong = 'sk-wrong-key-9876543210';
    const err = await rejection(make({ apiKey: wrong }).transcribe(request(), new AbortController().signal));
    expect([err.code, err.retryable]).toEqual(['VL_ERR_BATCH_REJECTED', false]);
    expect(err.message).toContain('HTTP 401: Unauthorized');
    expect(err.message).not.toContain(wrong);
  });

  it('a key the server echoes where the message is cut in two is still taken out whole', async () => {
    // 300 characters are kept: the key starts at 290, so a cut made first would leave 10 of its characters.
    double.answer({
      kind: 'error',
      status: 400,
      body: mistralError(`${'x'.repeat(277)} invalid key ${KEY}`, 'invalid_request_error'),
    });
    const err = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect(err.message).toContain('invalid key [redacted]');
    expect(err.message).not.toContain(KEY.slice(0, 6));
  });

  it('422 is refused for good with the field Mistral named, and a key it echoes is cut out', async () => {
    const detail = [
      { type: 'string_pattern_mismatch', loc: ['body', 'context_bias', 0], msg: `bad term near ${KEY}` },
    ];
    double.answer(
      { kind: 'error', status: 422, body: mistralError({ detail }, 'invalid_request_error') },
      { kind: 'error', status: 413, body: { detail: 'File too large' } },
    );
    const invalid = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect(invalid.code).toBe('VL_ERR_BATCH_REJECTED');
    expect(invalid.message).toContain('HTTP 422: body.context_bias.0: bad term near [redacted]');
    expect(invalid.message).not.toContain(KEY);
    const large = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([large.code, large.message]).toEqual([
      'VL_ERR_BATCH_REJECTED',
      expect.stringContaining('HTTP 413: File too large'),
    ]);
  });

  it('a 200 that is not a transcription is an engine error (worth retrying)', async () => {
    double.answer(
      { kind: 'malformed', body: '<html>gateway</html>' },
      {
        kind: 'malformed',
        body: JSON.stringify({ model: 'voxtral-mini-2602', text: 'hi', segments: [{ text: 'hi' }] }),
      },
    );
    const html = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([html.code, html.message]).toEqual(['VL_ERR_BATCH_ENGINE', expect.stringContaining('not JSON')]);
    const shape = await rejection(engine.transcribe(request(), new AbortController().signal));
    expect([shape.code, shape.message]).toEqual([
      'VL_ERR_BATCH_ENGINE',
      expect.stringContaining('/segments/0/start'),
    ]);
  });

  it('the caller’s abort ends a request in flight at once, with the caller’s reason', async () => {
    double.answer({ kind: 'hang' });
    const controller = new AbortController();
    const pending = engine.transcribe(request(), controller.signal);
    await double.received(0);
    const reason = new Error('call erased');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    // A signal already aborted sends nothing.
    await expect(engine.transcribe(request(), controller.signal)).rejects.toBe(reason);
    expect(double.requests).toHaveLength(1);
  });

  it('gives up on a request that takes longer than the timeout (on the injected clock)', async () => {
    double.answer({ kind: 'hang' });
    const pending = rejection(engine.transcribe(request(), new AbortController().signal));
    await double.received(0);
    await clock.advance(TIMEOUT_MS);
    const err = await pending;
    expect([err.code, err.retryable]).toEqual(['VL_ERR_BATCH_ENGINE', true]);
    expect(err.message).toContain(`no answer within ${TIMEOUT_MS} ms`);
  });

  it('an engine that cannot be reached is worth retrying', async () => {
    const url = double.url;
    await double.close();
    const err = await rejection(make({ baseUrl: url }).transcribe(request(), new AbortController().signal));
    expect(err.code).toBe('VL_ERR_BATCH_ENGINE');
    expect(err.message).toContain('ECONNREFUSED');
    double = new MistralBatchDouble(KEY);
    await double.listen();
  });
});
