import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MistralRealtimeDouble } from '../doubles/mistral-realtime-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';

const greeting = demoCall('greeting');
let mistral: MistralRealtimeDouble;
let gateway: Gateway | undefined;

beforeEach(() => {
  mistral = new MistralRealtimeDouble(new ReferenceAudio([greeting]));
});

afterEach(async () => {
  await gateway?.close();
  await mistral.close();
  gateway = undefined;
});

async function transcribe(env: Record<string, string>, during?: () => void) {
  const url = await mistral.listen();
  gateway = await startGateway({ MISTRAL_API_KEY: mistral.apiKey, MISTRAL_URL: url, ...env });
  const playing = playDemo(gateway, 'greeting', { pace: 'realtime' });
  during?.();
  const result = await playing;
  const g = gateway;
  return eventually(async () => {
    const { body } = await g.get(`/v1/calls/${result.callSid}/transcript`);
    expect(body.complete).toBe(true);
    return body as {
      utterances: { speaker: string; recovered: boolean; words: { word: string; startMs: number }[] }[];
      errors: unknown[];
    };
  }, 15_000);
}

/**
 * Every word, each speaker's in order; word times within ±160 ms except in recovered utterances:
 * Mistral's text has no step cadence, and re-sent audio goes faster than real time.
 */
function check(transcript: Awaited<ReturnType<typeof transcribe>>) {
  for (const speaker of ['caller', 'agent'] as const) {
    const got = transcript.utterances
      .filter((u) => u.speaker === speaker)
      .flatMap((u) => u.words.map((w) => ({ ...w, recovered: u.recovered })));
    const reference = greeting.words.filter((w) => w.leg === speaker);
    expect(got.map((w) => w.word)).toEqual(reference.map((w) => w.word));
    for (const [i, w] of got.entries()) {
      if (!w.recovered) expect(Math.abs(w.startMs - reference[i].startMs)).toBeLessThanOrEqual(160);
    }
  }
}

describe('a two-leg call on the Mistral hosted realtime API (double of its documented protocol)', () => {
  it('sends 16 kHz PCM16 with the configured delay; every word, speaker-labelled, within ±160 ms', async () => {
    const transcript = await transcribe({ ASR_DELAY_MS: '240' });
    check(transcript);
    expect(mistral.segments.map((s) => [s.encoding, s.delayMs])).toContainEqual(['pcm_s16le', 240]);
  }, 30_000);

  it('with MISTRAL_AUDIO=mulaw sends the carrier’s 8 kHz μ-law as is', async () => {
    const transcript = await transcribe({ MISTRAL_AUDIO: 'mulaw' });
    check(transcript);
    expect(new Set(mistral.segments.map((s) => s.encoding))).toEqual(new Set(['pcm_mulaw']));
  }, 30_000);

  it('a dropped connection mid-call: reconnects, re-sends, nothing lost', async () => {
    const transcript = await transcribe({}, () => setTimeout(() => mistral.dropAll(), 1_000));
    check(transcript);
    expect(transcript.utterances.some((u) => u.recovered)).toBe(true);
    expect(transcript.errors).toEqual([]);
  }, 30_000);

  it('MISTRAL_MAX_SESSIONS=1 against a server allowing one session: both legs transcribed through it in turn, never refused', async () => {
    mistral = new MistralRealtimeDouble(new ReferenceAudio([greeting]), { maxSessions: 1 });
    const transcript = await transcribe({ MISTRAL_MAX_SESSIONS: '1' });
    for (const speaker of ['caller', 'agent'] as const) {
      const got = transcript.utterances.filter((u) => u.speaker === speaker).flatMap((u) => u.words);
      expect(got.map((w) => w.word)).toEqual(
        greeting.words.filter((w) => w.leg === speaker).map((w) => w.word),
      );
    }
    expect(transcript.errors).toEqual([]);
    expect(mistral.refusals).toBe(0);
    expect(mistral.peakSessions).toBe(1);
    const { body } = await (gateway as Gateway).get('/metrics');
    expect(String(body)).toMatch(/^voxline_asr_session_wait_seconds_count\{engine="mistral"\} [1-9]/m);
  }, 30_000);

  it('an error event from the server: surfaced, the utterance re-sent on a new session, nothing lost', async () => {
    const transcript = await transcribe({}, () => setTimeout(() => mistral.failNextAppend(), 700));
    check(transcript);
    expect(transcript.errors).toEqual([
      expect.objectContaining({
        code: 'engine_error',
        message: expect.stringContaining('Internal server error (code 3000)'),
      }),
    ]);
  }, 30_000);
});
