import type { SileroVad, VadState } from './silero-vad.js';

/** Below about −60 dBFS a window is digital silence: the model is not run, even inside speech. */
const SILENCE_RMS = 0.001;
/** Gated windows the model hears again before it judges the next loud one (512 ms). */
const REPLAY_WINDOWS = 16;

/**
 * Judges a leg's VAD windows by level where the model is not needed (VAD_GATE_DBFS): digital
 * silence always, and line noise below the gate while no speech is open or starting. The gated
 * noise is remembered, so that when the level rises the model first hears the last of it: its
 * recurrent state then is what it would have been without the gate, and speech starts where it
 * would have (the energy-gate test: without the replay, a start moved 100 ms).
 */
export class LevelGate {
  readonly #gateRms: number;
  /** The last gated noise windows (each the window's own copy), and the context before them. */
  readonly #quiet: Float32Array[] = [];
  readonly #quietContext: Float32Array;
  /** Samples of the previous window Silero v5 takes in front of each: 64 at 16 kHz, 32 at 8 kHz. */
  readonly #context: number;

  /**
   * `gateDbfs`: the gate in dB full scale; by default only digital silence is skipped.
   * `contextSamples`: the model's context (SileroVad.contextSamples). Windows may be any length
   * (512 samples at 16 kHz, 256 at 8 kHz): the level is their mean square.
   */
  constructor(gateDbfs = -60, contextSamples = 64) {
    this.#gateRms = Math.max(SILENCE_RMS, 10 ** (gateDbfs / 20));
    this.#context = contextSamples;
    this.#quietContext = new Float32Array(contextSamples);
  }

  /** Above the gate: what judges a window by level alone when the model cannot (it fell behind). */
  loud(samples: Float32Array): boolean {
    return rms(samples) >= this.#gateRms;
  }

  /**
   * True when the window is silence without the model: digital silence anywhere; line noise below
   * the gate only while `idle` (no utterance open or starting), so an utterance's boundaries stay
   * the model's. A window judged silent here becomes the leg's context for its next window.
   */
  silent(samples: Float32Array, idle: boolean, state: VadState): boolean {
    const level = rms(samples);
    if (level < SILENCE_RMS) {
      // The model skips digital silence with or without the gate: nothing to catch up on.
      this.#quiet.length = 0;
    } else if (level >= this.#gateRms || !idle) {
      return false;
    } else {
      if (this.#quiet.length === 0) this.#quietContext.set(state.input.subarray(0, this.#context));
      else if (this.#quiet.length === REPLAY_WINDOWS) this.#quiet.shift();
      this.#quiet.push(samples);
    }
    state.input.set(samples.subarray(samples.length - this.#context), 0);
    return true;
  }

  /** Runs the remembered gated windows through the model for the leg's state; resolves how many. */
  async replay(vad: SileroVad, state: VadState): Promise<number> {
    if (this.#quiet.length === 0) return 0;
    const windows = this.#quiet.splice(0);
    state.input.set(this.#quietContext, 0);
    for (const data of windows) await vad.probability(state, data);
    return windows.length;
  }
}

function rms(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / samples.length);
}
