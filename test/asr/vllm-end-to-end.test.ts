import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReferenceAudio } from '../doubles/reference-audio.js';
import { VllmRealtimeDouble } from '../doubles/vllm-realtime-double.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { type DemoCall, demoCall, playDemo } from '../helpers/media.js';

const call = demoCall('support-call');
let vllm: VllmRealtimeDouble;
let gateway: Gateway;

beforeEach(async () => {
  vllm = new VllmRealtimeDouble({ reference: new ReferenceAudio([call, demoCall('greeting')]) });
  await vllm.listen();
});

afterEach(async () => {
  await gateway?.close();
  await vllm.close();
});

interface Utterance {
  speaker: string;
  text: string;
  startMs: number;
  endMs: number;
  recovered: boolean;
  words: { word: string; startMs: number; endMs: number }[];
}

async function transcriptOf(callSid: string): Promise<{ complete: boolean; utterances: Utterance[] }> {
  let body: { complete: boolean; utterances: Utterance[] } | undefined;
  await eventually(async () => {
    body = (await gateway.get(`/v1/calls/${callSid}/transcript`)).body;
    expect(body?.complete).toBe(true);
  }, 15_000);
  return body as { complete: boolean; utterances: Utterance[] };
}

/** Every word of the demo call, by speaker, in the order spoken. */
function expectedWords(demo: DemoCall, speaker: 'caller' | 'agent'): string[] {
  return demo.words.filter((w) => w.leg === speaker).map((w) => w.word);
}

function wordsOf(utterances: Utterance[], speaker: string): Utterance['words'] {
  return utterances.filter((u) => u.speaker === speaker).flatMap((u) => u.words);
}

describe('a two-leg call transcribed by vLLM (double speaking the exact /v1/realtime protocol)', () => {
  it('yields speaker-labelled finals with every word, word times within ±160 ms of the manifest', async () => {
    gateway = await startGateway({ VLLM_URL: vllm.url });
    const result = await playDemo(gateway, 'support-call', { pace: 'realtime' });
    const { utterances } = await transcriptOf(result.callSid);

    for (const speaker of ['caller', 'agent'] as const) {
      const words = wordsOf(utterances, speaker);
      expect(words.map((w) => w.word)).toEqual(expectedWords(call, speaker));
      const reference = call.words.filter((w) => w.leg === speaker);
      for (const [i, word] of words.entries()) {
        expect(Math.abs(word.startMs - reference[i].startMs)).toBeLessThanOrEqual(160);
      }
    }
    // Merged on the call clock.
    const starts = utterances.map((u) => u.startMs);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(utterances.every((u) => !u.recovered)).toBe(true);
    expect(vllm.discardedBytes).toBe(0);
  }, 60_000);

  it('played faster than real time (the VAD behind): every word lies inside its own final, none lost', async () => {
    // The VAD judges speech after the audio reached the engine: a late speech end must not cut a
    // final short of the words it already holds (it once put endMs before them).
    gateway = await startGateway({ VLLM_URL: vllm.url });
    const result = await playDemo(gateway, 'support-call', { pace: 'fast' });
    const { utterances } = await transcriptOf(result.callSid);

    for (const speaker of ['caller', 'agent'] as const) {
      expect(wordsOf(utterances, speaker).map((w) => w.word)).toEqual(expectedWords(call, speaker));
    }
    for (const u of utterances) {
      expect(u.endMs).toBeGreaterThanOrEqual(u.startMs);
      for (const word of u.words) {
        expect(word.startMs, `${word.word} in "${u.text}"`).toBeGreaterThanOrEqual(u.startMs);
        expect(word.startMs, `${word.word} in "${u.text}"`).toBeLessThanOrEqual(u.endMs);
      }
    }
    expect(vllm.discardedBytes).toBe(0);
  }, 60_000);

  it('holds audio that arrives while vLLM finishes an utterance and sends it with the next: none discarded', async () => {
    // No VAD and 2 s utterances: audio keeps coming between every `final` and its `done`.
    gateway = await startGateway({
      VLLM_URL: vllm.url,
      VAD_ENABLED: 'false',
      UTTERANCE_MAX_MS: '2000',
      ASR_BUFFER_MS: '7000',
    });
    vllm.doneDelayMs = 300;
    const greeting = demoCall('greeting');
    const result = await playDemo(gateway, 'greeting', { pace: 'realtime' });
    const { utterances } = await transcriptOf(result.callSid);

    expect(utterances.length).toBeGreaterThanOrEqual(4);
    for (const speaker of ['caller', 'agent'] as const) {
      expect(wordsOf(utterances, speaker).map((w) => w.word)).toEqual(expectedWords(greeting, speaker));
    }
    expect(vllm.discardedBytes).toBe(0);
  }, 30_000);
});
