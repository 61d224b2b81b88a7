import { afterEach, describe, expect, it } from 'vitest';
import {
  type OpenAiTranscriptionAnswer,
  OpenAiTranscriptionDouble,
  type ReceivedOpenAiTranscription,
} from '../doubles/openai-transcription-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, startGateway } from '../helpers/gateway.js';
import { type DemoWord, demoCall, playDemo } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/*
 * POSTCALL_ENGINE=openai end to end: a call longer than POSTCALL_MAX_CHUNK_S, so each channel
 * goes to the OpenAI-compatible double (its verbose_json wire) in two chunks; the double answers
 * each chunk with the demo call's words timed from that chunk's start, as a server would, and
 * the refined transcript must put them back on the call clock. No diarization on this wire.
 */

const KEY = 'sk-openai-postcall-0123456789';
const MODEL = 'mistralai/Voxtral-Mini-3B-2507';
const support = demoCall('support-call');
const greeting = demoCall('greeting');
/** The greeting is played from here on, after support-call and a silence: past the 30 s chunk limit. */
const SECOND_PART_MS = 31_000;
const CHUNK_S = 30;

/** Both parts on one clock: what was said when, per leg (from the manifest's forced alignment). */
const SEGMENTS = [
  ...support.segments.map((s) => ({ ...s, words: support.words.filter((w) => within(w, s)) })),
  ...greeting.segments.map((s) => ({
    ...s,
    startMs: s.startMs + SECOND_PART_MS,
    endMs: s.endMs + SECOND_PART_MS,
    words: greeting.words
      .filter((w) => within(w, s))
      .map((w) => ({ ...w, startMs: w.startMs + SECOND_PART_MS, endMs: w.endMs + SECOND_PART_MS })),
  })),
];

function within(w: DemoWord, s: { leg: string; startMs: number; endMs: number }): boolean {
  return w.leg === s.leg && w.startMs >= s.startMs && w.startMs < s.endMs;
}

function leg(part: 'caller' | 'agent'): Uint8Array {
  const out = new Uint8Array((SECOND_PART_MS + greeting.durationMs) * 8).fill(0xff); // μ-law silence
  out.set(support[part]);
  out.set(greeting[part], SECOND_PART_MS * 8);
  return out;
}

/** A verbose_json answer for a chunk from `fromMs` to `toMs` on the call clock: times from its start. */
function answerFor(speaker: string, fromMs: number, toMs: number): OpenAiTranscriptionAnswer {
  const said = SEGMENTS.filter((s) => s.leg === speaker && s.startMs >= fromMs && s.startMs < toMs);
  const at = (ms: number) => (ms - fromMs) / 1000;
  return {
    kind: 'transcription',
    language: 'english',
    segments: said.map((s) => ({ text: ` ${s.text}`, start: at(s.startMs), end: at(s.endMs) })),
    words: said.flatMap((s) =>
      s.words.map((w) => ({ word: w.word, start: at(w.startMs), end: at(w.endMs) })),
    ),
  };
}

function fields(request: ReceivedOpenAiTranscription, name: string): string[] {
  return request.parts.filter((p) => p.name === name).map((p) => p.value);
}

function file(request: ReceivedOpenAiTranscription) {
  const part = request.parts.find((p) => p.name === 'file');
  const wav = part?.bytes as Buffer;
  return { name: part?.fileName ?? '', wav, durationMs: ((wav.length - 44) / 2 / 16_000) * 1000 };
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe('refined transcript from an OpenAI-compatible batch engine', () => {
  it(
    'each channel in chunks with verbose_json, word times and the context bias as prompt; words back on the call clock, no sub-speakers',
    { timeout: 90_000 },
    async () => {
      const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([support, greeting]) });
      await vllm.listen();
      const batch = new OpenAiTranscriptionDouble(KEY);
      await batch.listen();
      const receiver = new TestReceiver();
      const gateway = await startGateway({
        VLLM_URL: vllm.url,
        WEBHOOK_URL: await receiver.listen(),
        WEBHOOK_SECRET: SECRET,
        WEBHOOK_EVENTS: 'recording.ready,call.ended,transcript.refined,postcall.failed',
        RECORDING_FORMAT: 'pcm16',
        POSTCALL_ENGINE: 'openai',
        POSTCALL_BASE_URL: `${batch.url}/v1`,
        POSTCALL_API_KEY: KEY,
        POSTCALL_MODEL: MODEL,
        POSTCALL_MAX_CHUNK_S: String(CHUNK_S),
        POSTCALL_CONTEXT_BIAS: 'Northwind, Alder Creek Design',
      });
      cleanups.push(
        () => gateway.close(),
        async () => {
          await Promise.all([vllm.close(), batch.close(), receiver.close()]);
        },
      );

      // Each channel's first chunk starts at 0; its second where the first ended, known once the
      // first has arrived (requests go one at a time: each answer is queued before its request).
      batch.answer(answerFor('caller', 0, SECOND_PART_MS), answerFor('agent', 0, SECOND_PART_MS));
      void batch
        .received(0)
        .then(() => batch.received(1))
        .then(() => {
          const [caller, agent] = batch.requests.map(file) as [
            ReturnType<typeof file>,
            ReturnType<typeof file>,
          ];
          batch.answer(
            answerFor('caller', caller.durationMs, Number.POSITIVE_INFINITY),
            answerFor('agent', agent.durationMs, Number.POSITIVE_INFINITY),
          );
        });

      const { callSid } = await playDemo(gateway, 'support-call', {
        caller: leg('caller'),
        agent: leg('agent'),
        customParameters: { vocabulary: 'Quillara' },
      });
      await eventually(
        () =>
          expect(receiver.events.map((e) => e.type)).toEqual(expect.arrayContaining(['transcript.refined'])),
        60_000,
      );
      const events = receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
      expect(events.map((e) => e.type)).toEqual(['recording.ready', 'call.ended', 'transcript.refined']);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);

      // Four requests: caller and agent, each cut once at a pause before the 30 s limit.
      const sent = batch.requests.map(file);
      expect(sent.map((f) => f.name.replace(/-\d+\.wav$/, ''))).toEqual(
        ['caller', 'agent', 'caller', 'agent'].map((speaker) => `${callSid}-${speaker}`),
      );
      for (const [first, second] of [
        [sent[0], sent[2]],
        [sent[1], sent[3]],
      ] as const) {
        // The cut falls in the silence between the two parts; the second chunk names its offset.
        expect(first?.durationMs).toBeGreaterThan(support.durationMs);
        expect(first?.durationMs).toBeLessThan(SECOND_PART_MS);
        expect(second?.name).toMatch(new RegExp(`-${Math.round(first?.durationMs as number)}\\.wav$`));
      }
      for (const request of batch.requests) {
        expect(request.authorization).toBe(`Bearer ${KEY}`);
        expect(fields(request, 'model')).toEqual([MODEL]);
        expect(fields(request, 'response_format')).toEqual(['verbose_json']);
        expect(fields(request, 'timestamp_granularities[]')).toEqual(['word', 'segment']);
        // The configured terms, then the call's own, as one prompt.
        expect(fields(request, 'prompt')).toEqual(['Northwind, Alder Creek Design, Quillara']);
        expect(fields(request, 'diarize')).toEqual([]);
        const { wav } = file(request);
        expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
        expect(wav.readUInt16LE(22)).toBe(1);
        expect(wav.readUInt32LE(24)).toBe(16_000);
      }

      const refined = events.find((e) => e.type === 'transcript.refined')?.data;
      expect(refined).toMatchObject({
        engine: 'openai',
        model: MODEL,
        language: 'english',
        channels: 2,
        chunks: 4,
        contextBias: ['Northwind', 'Alder Creek Design', 'Quillara'],
      });
      // Every segment and word where it was said on the call, whichever chunk carried it.
      const expected = [...SEGMENTS]
        .sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs)
        .map((s) => ({
          speaker: s.leg,
          subSpeaker: null,
          text: s.text,
          startMs: s.startMs,
          endMs: s.endMs,
          words: s.words.map((w) => ({ word: w.word, startMs: w.startMs, endMs: w.endMs })),
        }));
      expect(refined.utterances).toEqual(expected);
      const served = await gateway.get(`/v1/calls/${callSid}/transcript?version=refined`);
      expect(served.status).toBe(200);
      expect(served.body.utterances).toEqual(expected);
    },
  );
});
