import { STEP_MS } from '../word-timing.js';
import type { UtteranceAudio } from './utterance-audio.js';
import type { FeatureTensor, LoadedVoxtral } from './voxtral-onnx.js';

export interface GenerationResult {
  /** Compute time, ms: the generation's wall time less what it spent waiting for speech. */
  readonly computeMs: number;
  /** Audio the model heard, ms, its right-pad of silence included. */
  readonly audioMs: number;
}

const SAMPLES_PER_MS = 16;

/**
 * One utterance as one streaming generation on a loaded model (docs/protocols/voxtral.md §4.4):
 * mel features 80 ms at a time as the audio arrives, one token per step. `onDelta` gets each
 * step's new text, empty steps included (word times count steps). At the end of speech the audio
 * gets the right-pad of silence that lets the model write its last, delayed words. Resolves
 * undefined when cancelled. The same code runs on the main thread or in a model worker.
 */
export async function runGeneration(
  loaded: LoadedVoxtral,
  audio: UtteranceAudio,
  maxUtteranceMs: number,
  onDelta: (delta: string) => void,
): Promise<GenerationResult | undefined> {
  const { processor, model } = loaded;
  const first = processor.num_samples_first_audio_chunk;
  await audio.until(() => audio.length >= first);
  if (audio.cancelled) return undefined;
  if (audio.length < first) audio.padWithSilence(first - audio.length);
  const started = performance.now();
  const waits = { ms: 0 };
  const prompt = await processor(audio.view(0, first), { is_streaming: true, is_first_audio_chunk: true });
  const ids: bigint[] = [];
  let promptSeen = false;
  let printed = '';
  const streamer = loaded.streamer((step) => {
    // The first call carries the prompt (BOS and streaming pads); every later one is one 80 ms step.
    if (!promptSeen) {
      promptSeen = true;
      return;
    }
    ids.push(...step);
    const text = processor.tokenizer.decode(ids, { skip_special_tokens: true });
    const delta = text.startsWith(printed) ? text.slice(printed.length) : '';
    printed = text;
    onDelta(delta);
  });
  await model.generate({
    input_ids: prompt.input_ids as FeatureTensor,
    input_features: features(loaded, audio, prompt.input_features, waits),
    max_new_tokens: Math.ceil(maxUtteranceMs / STEP_MS) + processor.num_right_pad_tokens + 8,
    streamer,
  });
  if (audio.cancelled) return undefined;
  return { computeMs: performance.now() - started - waits.ms, audioMs: audio.length / SAMPLES_PER_MS };
}

/** Mel features of the utterance, 80 ms at a time, as its audio arrives; ends after the right-pad. */
async function* features(
  loaded: LoadedVoxtral,
  audio: UtteranceAudio,
  firstFeatures: FeatureTensor,
  waits: { ms: number },
): AsyncIterable<FeatureTensor> {
  const { processor } = loaded;
  const { hop_length, n_fft } = processor.feature_extractor.config;
  yield firstFeatures;
  let mel = processor.num_mel_frames_first_audio_chunk;
  let padded = false;
  for (;;) {
    const start = mel * hop_length - Math.floor(n_fft / 2);
    const end = start + processor.num_samples_per_audio_chunk;
    const waitFrom = performance.now();
    await audio.until(() => audio.length >= end);
    waits.ms += performance.now() - waitFrom;
    if (audio.cancelled) return;
    if (audio.length < end) {
      if (padded) return;
      // Speech ended: silence for the model's delay, so its last words come out.
      audio.padWithSilence(processor.num_right_pad_tokens * processor.raw_audio_length_per_tok);
      padded = true;
      if (audio.length < end) return;
    }
    const chunk = await processor(audio.view(start, end).slice(), {
      is_streaming: true,
      is_first_audio_chunk: false,
    });
    yield chunk.input_features;
    mel += chunk.input_features.dims[2] ?? 0;
  }
}
