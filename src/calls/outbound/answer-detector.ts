/** Who picked up an outbound call, as far as the first seconds of audio tell. */
export type AnsweredBy = 'human' | 'machine' | 'unknown';

/**
 * The rules, with Asterisk app_amd's defaults (amd.conf): a person says a short word or two and
 * waits; a machine starts late, or talks on. `maxWords` is one more than Asterisk's 2, so
 * "Hello, yes?" still counts as a person.
 */
export interface AnswerRules {
  /** No speech this long from the answer: a machine (or a dead line). */
  readonly initialSilenceMs: number;
  /** This much speech in all: a machine's greeting. */
  readonly greetingMs: number;
  /** Silence this long after speech: a person, waiting for an answer. */
  readonly afterGreetingSilenceMs: number;
  /** No verdict by then: unknown. */
  readonly totalMs: number;
  /** Sound shorter than this is not a word (clicks, a breath). */
  readonly minWordMs: number;
  /** Silence this long ends a word. */
  readonly betweenWordsMs: number;
  /** This many words: a machine. */
  readonly maxWords: number;
  /** A 20 ms frame louder than this (RMS, dBFS) is sound. */
  readonly soundDbfs: number;
}

export const ASTERISK_AMD_RULES: AnswerRules = Object.freeze({
  initialSilenceMs: 2500,
  greetingMs: 1500,
  afterGreetingSilenceMs: 800,
  totalMs: 5000,
  minWordMs: 100,
  betweenWordsMs: 50,
  maxWords: 3,
  soundDbfs: -42,
});

const FRAME_MS = 20;
const SAMPLES_PER_MS = 16;

/**
 * Answering-machine detection from the callee's first seconds (16 kHz PCM in any cut): each
 * 20 ms frame is sound or silence by level, sound is grouped into words, and the rules above
 * decide. Pure: no clock but the audio's own; `push` returns the verdict once there is one.
 */
export class AnswerDetector {
  readonly #rules: AnswerRules;
  readonly #threshold: number;
  readonly #frame = new Int16Array(FRAME_MS * SAMPLES_PER_MS);
  #fill = 0;
  #elapsedMs = 0;
  #verdict: AnsweredBy | undefined;
  /** Whether a word was heard; the speech heard in all; the silence now running. */
  #greetingStarted = false;
  #spokenMs = 0;
  #silenceMs = 0;
  #soundMs = 0;
  #inWord = false;
  #words = 0;

  constructor(rules: AnswerRules = ASTERISK_AMD_RULES) {
    this.#rules = rules;
    this.#threshold = 32768 * 10 ** (rules.soundDbfs / 20);
  }

  get verdict(): AnsweredBy | undefined {
    return this.#verdict;
  }

  push(pcm: Int16Array): AnsweredBy | undefined {
    for (let i = 0; i < pcm.length && this.#verdict === undefined; ) {
      const n = Math.min(pcm.length - i, this.#frame.length - this.#fill);
      this.#frame.set(pcm.subarray(i, i + n), this.#fill);
      this.#fill += n;
      i += n;
      if (this.#fill === this.#frame.length) {
        this.#fill = 0;
        this.#verdict = this.#step(rms(this.#frame) > this.#threshold);
      }
    }
    return this.#verdict;
  }

  #step(sound: boolean): AnsweredBy | undefined {
    const r = this.#rules;
    this.#elapsedMs += FRAME_MS;
    if (sound) {
      this.#silenceMs = 0;
      this.#soundMs += FRAME_MS;
      if (!this.#inWord && this.#soundMs >= r.minWordMs) {
        this.#inWord = true;
        this.#words++;
        this.#greetingStarted = true;
        if (this.#words >= r.maxWords) return 'machine';
      }
    } else {
      this.#silenceMs += FRAME_MS;
      if (this.#silenceMs >= r.betweenWordsMs) {
        this.#inWord = false;
        this.#soundMs = 0;
      }
      if (!this.#greetingStarted && this.#silenceMs >= r.initialSilenceMs) return 'machine';
      if (this.#greetingStarted && this.#silenceMs >= r.afterGreetingSilenceMs) return 'human';
    }
    if (sound) {
      this.#spokenMs += FRAME_MS;
      if (this.#greetingStarted && this.#spokenMs >= r.greetingMs) return 'machine';
    }
    return this.#elapsedMs >= r.totalMs ? 'unknown' : undefined;
  }
}

function rms(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  return Math.sqrt(sum / frame.length);
}
