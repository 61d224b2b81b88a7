import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../src/audio/g711.js';
import type { BatchTranscription } from '../../src/postcall/batch-transcription.js';
import { refineRecording } from '../../src/postcall/refine-recording.js';
import { wavHeader } from '../../src/recording/wav-format.js';
import { demoCall } from '../helpers/media.js';

/*
 * One recording, its channels split and sent, the answers put back on the call clock. The
 * "engine" here is the test's: it finds each chunk it is sent in the demo call's own audio (the
 * samples are exact) and answers the manifest's words that lie inside it, with times relative
 * to the chunk, as an engine would. So the test knows where every word truly is.
 */

const call = demoCall('support-call');
const legs = { caller: mulawToPcm(call.caller), agent: mulawToPcm(call.agent) };
/** The manifest's segments with their words (forced-aligned, on the call clock). */
const segments = call.segments.map((s) => ({
  ...s,
  words: call.words
    .filter((w) => w.leg === s.leg && w.startMs >= s.startMs && w.endMs <= s.endMs)
    .map(({ word, startMs, endMs }) => ({ word, startMs, endMs })),
}));

/** A stereo μ-law WAV as voxline records it: caller left, agent right, sample 0 the call's start. */
function recording(): Buffer {
  const frames = Math.max(call.caller.length, call.agent.length);
  const data = Buffer.alloc(frames * 2, 0xff);
  for (let i = 0; i < frames; i++) {
    if (i < call.caller.length) data[2 * i] = call.caller[i] as number;
    if (i < call.agent.length) data[2 * i + 1] = call.agent[i] as number;
  }
  return Buffer.concat([wavHeader('mulaw', 2, data.length), data]);
}

/** The chunk's offset in its leg, by exact match of its loudest 50 ms (silence would match anywhere). */
function offsetIn(leg: Int16Array, chunk: Int16Array): number {
  let peak = 0;
  for (let i = 0; i < chunk.length; i++)
    if (Math.abs(chunk[i] as number) > Math.abs(chunk[peak] as number)) peak = i;
  const from = Math.max(0, Math.min(peak - 200, chunk.length - 400));
  const probe = chunk.subarray(from, from + 400);
  outer: for (let at = 0; at + probe.length <= leg.length; at++) {
    for (let i = 0; i < probe.length; i++) if (leg[at + i] !== probe[i]) continue outer;
    return at - from;
  }
  throw new Error('chunk not found in the leg');
}

function pcmOf(wav: Uint8Array): Int16Array {
  const b = Buffer.from(wav);
  expect(b.toString('ascii', 0, 4)).toBe('RIFF');
  expect(b.readUInt16LE(22)).toBe(1); // mono
  expect(b.readUInt32LE(24)).toBe(8_000);
  const pcm = new Int16Array((b.length - 44) / 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = b.readInt16LE(44 + 2 * i);
  return pcm;
}

function engine(sent: { leg: string; startMs: number; endMs: number }[]) {
  return async (chunk: { wav: Uint8Array; fileName: string }): Promise<BatchTranscription> => {
    const leg = chunk.fileName.includes('-caller-') ? 'caller' : 'agent';
    const pcm = pcmOf(chunk.wav);
    const startMs = (offsetIn(legs[leg], pcm) / 8_000) * 1000;
    const endMs = startMs + (pcm.length / 8_000) * 1000;
    sent.push({ leg, startMs, endMs });
    // Each segment's words that lie in this chunk (a segment cut by a chunk boundary comes in two parts).
    const inside = segments
      .filter((s) => s.leg === leg)
      .map((s) => ({ ...s, words: s.words.filter((w) => w.startMs >= startMs && w.endMs <= endMs) }))
      .filter((s) => s.words.length > 0);
    return {
      model: 'test-engine',
      text: inside.map((s) => s.text).join(' '),
      language: 'en',
      segments: inside.map((s) => {
        const whole =
          s.words.length === segments.find((c) => c.startMs === s.startMs && c.leg === leg)?.words.length;
        const first = s.words[0] as { startMs: number };
        const last = s.words[s.words.length - 1] as { endMs: number };
        return {
          text: ` ${whole ? s.text : s.words.map((w) => w.word).join(' ')}`,
          startMs: (whole ? s.startMs : first.startMs) - startMs,
          endMs: (whole ? s.endMs : last.endMs) - startMs,
          // The engine hears two voices on the caller's channel after 15 s (a speakerphone).
          speakerId: leg === 'caller' && s.startMs >= 15_000 ? 'speaker_b' : 'speaker_a',
          words: s.words.map((w) => ({
            word: w.word,
            startMs: w.startMs - startMs,
            endMs: w.endMs - startMs,
          })),
        };
      }),
    };
  };
}

async function refine(maxChunkMs: number, sent: { leg: string; startMs: number; endMs: number }[]) {
  return refineRecording({
    callSid: 'CAtest',
    wav: Readable.from([recording()]),
    speakers: ['caller', 'agent'],
    contextBias: ['Northwind'],
    diarize: true,
    transcriber: { name: 'test', maxChunkMs },
    transcribe: engine(sent),
    wallNow: () => Date.UTC(2026, 11, 3),
    signal: new AbortController().signal,
  });
}

describe('refining a recording', () => {
  it('puts every segment and word on the call clock under its channel’s speaker, in call order', async () => {
    const sent: { leg: string; startMs: number; endMs: number }[] = [];
    const refined = await refine(900_000, sent);
    // One request per channel: the whole call fits.
    expect(sent.map((s) => s.leg).sort()).toEqual(['agent', 'caller']);
    expect(refined.chunks).toBe(2);
    expect(refined.channels).toBe(2);
    const expected = [...segments].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
    expect(refined.utterances.map((u) => [u.speaker, u.text, u.startMs, u.endMs])).toEqual(
      expected.map((s) => [s.leg, s.text, s.startMs, s.endMs]),
    );
    expect(refined.utterances.flatMap((u) => u.words)).toEqual(
      expected.flatMap((s) => s.words.map((w) => ({ word: w.word, startMs: w.startMs, endMs: w.endMs }))),
    );
    expect(refined).toMatchObject({ model: 'test-engine', language: 'en', contextBias: ['Northwind'] });
  });

  it('numbers two voices the engine heard on one channel in order of first speech, the other channel not', async () => {
    const refined = await refine(900_000, []);
    const voices = refined.utterances.map((u) => [u.speaker, u.subSpeaker, u.startMs]);
    expect(voices.filter(([speaker]) => speaker === 'caller')).toEqual([
      ['caller', 'caller.1', 2_600],
      ['caller', 'caller.1', 8_400],
      ['caller', 'caller.2', 15_300],
    ]);
    expect(voices.filter(([speaker]) => speaker === 'agent').every(([, sub]) => sub === null)).toBe(true);
  });

  it('splits a channel longer than the engine takes at quiet points, never inside a word, and loses none', async () => {
    const sent: { leg: string; startMs: number; endMs: number }[] = [];
    const refined = await refine(8_000, sent);
    expect(sent.length).toBeGreaterThan(2);
    for (const chunk of sent) expect(chunk.endMs - chunk.startMs).toBeLessThanOrEqual(8_000);
    // Chunks of a channel tile it: each starts where the one before ended (silent ones are not sent).
    for (const leg of ['caller', 'agent'] as const) {
      const cuts = sent.filter((s) => s.leg === leg).map((s) => s.startMs);
      const words = call.words.filter((w) => w.leg === leg);
      for (const cut of cuts) expect(words.some((w) => w.startMs < cut && cut < w.endMs)).toBe(false);
    }
    // Every word of the call is in the refined transcript, at its time, under its speaker.
    const byTime = (a: { startMs: number }, b: { startMs: number }) => a.startMs - b.startMs;
    expect(
      refined.utterances.flatMap((u) => u.words.map((w) => ({ ...w, leg: u.speaker }))).sort(byTime),
    ).toEqual(
      call.words.map(({ word, startMs, endMs, leg }) => ({ word, startMs, endMs, leg })).sort(byTime),
    );
  });

  it('sends nothing for a silent channel and skips a channel nobody was recorded on', async () => {
    const sent: { leg: string; startMs: number; endMs: number }[] = [];
    const frames = 8_000 * 3;
    const data = Buffer.alloc(frames * 2, 0xff); // μ-law silence on both channels
    const refined = await refineRecording({
      callSid: 'CAquiet',
      wav: Readable.from([Buffer.concat([wavHeader('mulaw', 2, data.length), data])]),
      speakers: ['caller', '(none)'],
      contextBias: [],
      diarize: false,
      transcriber: { name: 'test', maxChunkMs: 60_000 },
      transcribe: engine(sent),
      wallNow: () => 0,
      signal: new AbortController().signal,
    });
    expect(sent).toEqual([]);
    expect(refined).toMatchObject({ utterances: [], chunks: 0, channels: 1 });
  });

  it('refuses a stream that is not a WAV with a clear error', async () => {
    await expect(
      refineRecording({
        callSid: 'CAbad',
        wav: Readable.from([Buffer.from('not a wav file at all, just text')]),
        speakers: ['caller', 'agent'],
        contextBias: [],
        diarize: false,
        transcriber: { name: 'test', maxChunkMs: 60_000 },
        transcribe: engine([]),
        wallNow: () => 0,
        signal: new AbortController().signal,
      }),
    ).rejects.toMatchObject({ code: 'VL_ERR_BAD_REQUEST', message: expect.stringContaining('RIFF') });
  });
});
