import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebVTTParser } from 'webvtt-parser';
import { type ChatRequest, LlmDouble } from '../doubles/llm-double.js';
import { MistralBatchDouble, type ReceivedTranscription } from '../doubles/mistral-batch-double.js';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { demoCall, playDemo } from '../helpers/media.js';
import { SECRET, schemaValidator, TestReceiver } from '../helpers/webhooks.js';

/*
 * A whole call, then what comes after it: the recording goes to the batch engine (a double of
 * Mistral's /v1/audio/transcriptions, speaking its multipart wire), the refined transcript is
 * stored, served and announced, then the LLM (a chat-completions double with structured output)
 * analyzes it against an operator schema; every event signed, schema-valid, in order, at a real
 * receiver. The batch model and the LLM are doubles: nothing here is Mistral's or a model's output.
 */

const TOKEN = 'postcall-token-0123456789abcdef';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const KEY = 'mk-test-batch-key';
const call = demoCall('support-call');

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function text(gateway: Gateway, path: string) {
  const response = await fetch(`${gateway.baseUrl}${path}`, { headers: BEARER });
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    text: await response.text(),
  };
}

function fields(request: ReceivedTranscription, name: string): string[] {
  return request.parts.filter((p) => p.name === name).map((p) => p.value);
}

/** The double's answer: the manifest's segments of the channel named in the file (one chunk: times as on the call). */
function segmentsFor(request: ReceivedTranscription, twoVoices: boolean) {
  const file = request.parts.find((p) => p.name === 'file');
  const leg = file?.fileName?.includes('-caller-') ? 'caller' : 'agent';
  return {
    kind: 'transcription' as const,
    segments: call.segments
      .filter((s) => s.leg === leg)
      .map((s) => ({
        text: ` ${s.text}`,
        start: s.startMs / 1000,
        end: s.endMs / 1000,
        speaker_id: twoVoices && leg === 'caller' && s.startMs > 15_000 ? 'speaker_2' : 'speaker_1',
      })),
  };
}

const ANALYSIS = {
  summary: 'A caller waited on hold and was connected.',
  reason: 'to reach a person',
  outcome: 'resolved',
  sentiment: [
    { speaker: 'agent', sentiment: 'positive', score: 0.6 },
    { speaker: 'caller', sentiment: 'neutral', score: 0 },
  ],
  actionItems: [{ owner: 'agent', text: 'call back tomorrow' }],
  custom: { product: 'headset', escalate: false },
};

async function setUp(batch: MistralBatchDouble, extra: Record<string, string> = {}) {
  const vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call]) });
  await vllm.listen();
  await batch.listen();
  const llm = new LlmDouble(() => ({ json: ANALYSIS }));
  await llm.listen();
  const receiver = new TestReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'voxline-analysis-'));
  const schemaFile = join(dir, 'fields.json');
  writeFileSync(
    schemaFile,
    JSON.stringify({
      type: 'object',
      properties: { product: { type: 'string' }, escalate: { type: 'boolean' } },
      required: ['product', 'escalate'],
      additionalProperties: false,
    }),
  );
  const gateway = await startGateway({
    ADMIN_TOKEN: TOKEN,
    VLLM_URL: vllm.url,
    WEBHOOK_URL: await receiver.listen(),
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_EVENTS:
      'transcript.final,recording.ready,call.ended,transcript.refined,call.analyzed,postcall.failed',
    RECORDING_FORMAT: 'pcm16',
    POSTCALL_ENGINE: 'mistral',
    POSTCALL_BASE_URL: batch.url,
    POSTCALL_API_KEY: KEY,
    POSTCALL_CONTEXT_BIAS: 'Northwind, Alder Creek Design',
    ANALYSIS_LLM_BASE_URL: llm.url,
    ANALYSIS_LLM_API_KEY: 'llm-key',
    ANALYSIS_LLM_MODEL: 'analysis-model',
    ANALYSIS_SCHEMA_FILE: schemaFile,
    ...extra,
  });
  cleanups.push(
    () => gateway.close(),
    async () => {
      await Promise.all([vllm.close(), batch.close(), llm.close(), receiver.close()]);
    },
  );
  return { gateway, receiver, llm };
}

describe('after a two-leg call', () => {
  it(
    'recording.ready, transcript.refined and call.analyzed arrive in that order, signed and schema-valid, and the refined transcript is served and exported',
    { timeout: 60_000 },
    async () => {
      const batch = new MistralBatchDouble(KEY);
      batch.answerBy((request) => segmentsFor(request, true));
      const { gateway, receiver, llm } = await setUp(batch);
      const { callSid } = await playDemo(gateway, 'support-call', {
        customParameters: { vocabulary: 'Quillara, Rotterdam' },
      });
      await eventually(
        () => expect(receiver.events.filter((e) => e.type === 'call.analyzed')).toHaveLength(1),
        30_000,
      );
      const events = receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
      const order = events.map((e) => e.type).filter((t) => t !== 'transcript.final');
      expect(order).toEqual(['recording.ready', 'call.ended', 'transcript.refined', 'call.analyzed']);
      const validate = schemaValidator();
      for (const event of events) expect(validate(event)).toEqual([]);

      // Each channel went to the batch engine once: mono PCM at the recording's rate, with the
      // model, diarization, word timestamps and the call's context bias (configured, then its own).
      expect(batch.requests).toHaveLength(2);
      for (const request of batch.requests) {
        expect(request.authorization).toBe(`Bearer ${KEY}`);
        expect(fields(request, 'model')).toEqual(['voxtral-mini-2602']);
        expect(fields(request, 'diarize')).toEqual(['true']);
        expect(fields(request, 'timestamp_granularities')).toContain('word');
        expect(fields(request, 'context_bias')).toEqual([
          'Northwind',
          'Alder_Creek_Design',
          'Quillara',
          'Rotterdam',
        ]);
        const wav = request.parts.find((p) => p.name === 'file')?.bytes as Buffer;
        expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
        expect(wav.readUInt16LE(22)).toBe(1);
        expect(wav.readUInt32LE(24)).toBe(16_000);
        expect((wav.length - 44) / 32).toBeGreaterThan(call.durationMs - 500);
      }

      // The refined transcript: voxline's speaker per channel, the engine's two voices on the
      // caller's channel, on the call clock; live and refined agree word for word here.
      const refined = events.find((e) => e.type === 'transcript.refined')?.data;
      expect(refined).toMatchObject({
        engine: 'mistral',
        channels: 2,
        chunks: 2,
        contextBias: ['Northwind', 'Alder Creek Design', 'Quillara', 'Rotterdam'],
        agreement: { wer: 0, perSpeaker: { caller: 0, agent: 0 } },
        url: expect.stringContaining(`/v1/calls/${callSid}/transcript?version=refined`),
      });
      const sorted = [...call.segments].sort((a, b) => a.startMs - b.startMs);
      expect(
        refined.utterances.map((u: { speaker: string; text: string; startMs: number }) => [
          u.speaker,
          u.text,
          u.startMs,
        ]),
      ).toEqual(sorted.map((s) => [s.leg, s.text, s.startMs]));
      expect(
        refined.utterances
          .filter((u: { speaker: string }) => u.speaker === 'caller')
          .map((u: { subSpeaker: string }) => u.subSpeaker),
      ).toEqual(['caller.1', 'caller.1', 'caller.2']);

      // Stored and served, the same as announced; exported as subtitles and SRT.
      const served = await gateway.get(`/v1/calls/${callSid}/transcript?version=refined`, BEARER);
      expect(served.status).toBe(200);
      expect(served.body.utterances).toEqual(refined.utterances);
      const vtt = await text(gateway, `/v1/calls/${callSid}/transcript?version=refined&format=vtt`);
      expect(vtt.type).toMatch(/^text\/vtt/);
      const parsed = new WebVTTParser().parse(vtt.text);
      expect(parsed.errors).toEqual([]);
      expect(parsed.cues.length).toBeGreaterThanOrEqual(refined.utterances.length);
      expect(parsed.cues[0]?.startTime).toBeCloseTo(sorted[0]!.startMs / 1000, 3);
      const srt = await text(gateway, `/v1/calls/${callSid}/transcript?format=srt`);
      expect(srt.text).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> /);

      // The analysis: of the refined transcript, with the operator's fields, stored and served.
      const analyzed = events.find((e) => e.type === 'call.analyzed')?.data;
      expect(analyzed).toEqual({ ...ANALYSIS, model: 'analysis-model', source: 'refined' });
      const request = llm.requests[0] as ChatRequest & {
        response_format?: { json_schema?: { schema?: { properties?: object } } };
      };
      expect(Object.keys(request.response_format?.json_schema?.schema?.properties ?? {})).toContain('custom');
      const transcriptSent = JSON.stringify(request.messages);
      expect(transcriptSent).toContain('caller.2');
      expect((await gateway.get(`/v1/calls/${callSid}/analysis`, BEARER)).body).toEqual({
        callSid,
        ...analyzed,
      });
    },
  );

  it(
    'a batch engine that fails is retried, then reported in postcall.failed; the call record and live transcript are untouched and analysis reads the live one',
    { timeout: 60_000 },
    async () => {
      const batch = new MistralBatchDouble(KEY);
      batch.answerBy(() => ({
        kind: 'error',
        status: 503,
        body: { object: 'error', message: 'overloaded' },
        retryAfter: '0',
      }));
      const { gateway, receiver } = await setUp(batch, { POSTCALL_RETRIES: '2' });
      const { callSid } = await playDemo(gateway, 'support-call');
      await eventually(
        () => expect(receiver.events.filter((e) => e.type === 'call.analyzed')).toHaveLength(1),
        30_000,
      );
      const events = receiver.events.filter((e) => e.callSid === callSid).sort((a, b) => a.seq - b.seq);
      const failed = events.find((e) => e.type === 'postcall.failed');
      expect(failed?.data).toMatchObject({ stage: 'refine', code: 'VL_ERR_BATCH_ENGINE', attempts: 3 });
      expect(failed?.data.message).not.toContain(KEY);
      expect(batch.requests).toHaveLength(3); // the first channel's chunk, tried three times
      expect(events.find((e) => e.type === 'call.analyzed')?.data.source).toBe('live');
      expect(events.some((e) => e.type === 'transcript.refined')).toBe(false);
      const live = await gateway.get(`/v1/calls/${callSid}/transcript`, BEARER);
      // The live transcript is all there (played as fast as the socket goes, each leg is one utterance).
      expect(live.body.complete).toBe(true);
      expect(new Set(live.body.utterances.map((u: { speaker: string }) => u.speaker))).toEqual(
        new Set(['caller', 'agent']),
      );
      const refined = await gateway.get(`/v1/calls/${callSid}/transcript?version=refined`, BEARER);
      expect(refined.status).toBe(404);
      expect(refined.body.error.code).toBe('VL_ERR_TRANSCRIPT_NOT_READY');
      const metrics = await text(gateway, '/metrics');
      expect(metrics.text).toMatch(/voxline_postcall_jobs_total\{stage="refine",outcome="failed"\} 1/);
    },
  );
});
