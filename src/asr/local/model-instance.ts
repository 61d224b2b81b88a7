import { UtteranceAudio } from './utterance-audio.js';
import { type GenerationResult, runGeneration } from './voxtral-generation.js';
import type { LoadedVoxtral } from './voxtral-onnx.js';

/** One utterance being transcribed on a model instance. */
export interface Generation {
  /** More of the utterance's audio (16 kHz floats), in order; the instance keeps its own copy. */
  push(samples: Float32Array): void;
  /** Speech ended: the generation pads, finishes, and `done` resolves. */
  end(): void;
  /** Stops now (the leg closed): `done` resolves undefined. */
  cancel(): void;
  readonly done: Promise<GenerationResult | undefined>;
}

/**
 * A loaded model that runs one generation at a time: on the main thread (tests, and hooks that
 * wrap the model) or in a worker thread (what voxline runs: onnxruntime-node's run blocks the
 * thread it is called on, so a model on the event loop would stall every call for each step).
 */
export interface ModelInstance {
  /** Starts an utterance's generation; `onDelta` gets each step's new text (empty steps too). */
  generate(onDelta: (delta: string) => void): Generation;
  /** False once the instance cannot run more (its worker died): the scheduler loads another. */
  readonly usable: boolean;
  dispose(): Promise<void>;
}

/** A model loaded on this thread. */
export function inThreadInstance(loaded: LoadedVoxtral, maxUtteranceMs: number): ModelInstance {
  return {
    usable: true,
    generate(onDelta) {
      const audio = new UtteranceAudio();
      return {
        push: (samples) => audio.append(samples),
        end: () => audio.end(),
        cancel: () => audio.cancel(),
        done: runGeneration(loaded, audio, maxUtteranceMs, onDelta),
      };
    },
    dispose: async () => {
      await loaded.model.dispose();
    },
  };
}
