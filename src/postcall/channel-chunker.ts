/** One piece of one channel, sent as one request; `startSample` places it on the call clock. */
export interface AudioChunk {
  readonly startSample: number;
  readonly samples: Int16Array;
  /** Some 20 ms frame of it is louder than the gate: a chunk without is not sent. */
  readonly audible: boolean;
}

const FRAME_MS = 20;
/** Without a pause, the middle of the quietest stretch this long is where a full buffer is cut. */
const QUIET_MS = 200;
/** Cuts are looked for in the last 40 % of a full chunk (so that chunks stay long). */
const SEARCH_FROM = 0.6;
/**
 * A chunk's WAV stays under 24 MiB whatever POSTCALL_MAX_CHUNK_S says: OpenAI's API and vLLM
 * (VLLM_MAX_AUDIO_CLIP_FILESIZE_MB, default 25) refuse larger files.
 */
export const MAX_CHUNK_SAMPLES = (24 * 1024 * 1024 - 44) / 2;
const INITIAL_SECONDS = 10;

/**
 * Splits one channel of a recording into chunks no longer than `maxChunkMs`, each cut in the
 * middle of the longest pause (frames under the gate) in its last 40 %, so that a long call fits
 * the engine's limit without cutting a word where a pause was near. Memory: one chunk.
 */
export class ChannelChunker {
  #buffer: Int16Array;
  readonly #max: number;
  readonly #frame: number;
  readonly #gate: number;
  #length = 0;
  #start = 0;

  /** `gateDbfs`: a frame louder than this is audible (−45 dBFS: above a line's noise, below speech). */
  constructor(sampleRate: number, maxChunkMs: number, gateDbfs = -45) {
    this.#frame = Math.max(1, Math.round((sampleRate * FRAME_MS) / 1000));
    const wanted = Math.round((sampleRate * maxChunkMs) / 1000);
    this.#max = Math.max(this.#frame * 20, Math.min(wanted, MAX_CHUNK_SAMPLES));
    // Grown as audio comes: a short call never holds a whole chunk's worth.
    this.#buffer = new Int16Array(Math.min(this.#max, sampleRate * INITIAL_SECONDS));
    const rms = 32768 * 10 ** (gateDbfs / 20);
    this.#gate = rms * rms * this.#frame;
  }

  /** The chunks `samples` completes (usually none). */
  push(samples: Int16Array): AudioChunk[] {
    const out: AudioChunk[] = [];
    let at = 0;
    while (at < samples.length) {
      if (this.#length === this.#buffer.length && this.#buffer.length < this.#max) this.#grow();
      const room = this.#buffer.length - this.#length;
      const n = Math.min(room, samples.length - at);
      this.#buffer.set(samples.subarray(at, at + n), this.#length);
      this.#length += n;
      at += n;
      if (this.#length === this.#max) out.push(this.#cut(this.#quietest()));
    }
    return out;
  }

  /** What is left, as the last chunk (undefined when nothing is). */
  end(): AudioChunk | undefined {
    return this.#length > 0 ? this.#cut(this.#length) : undefined;
  }

  #grow(): void {
    const bigger = new Int16Array(Math.min(this.#max, this.#buffer.length * 2));
    bigger.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = bigger;
  }

  #cut(at: number): AudioChunk {
    const samples = this.#buffer.slice(0, at);
    const chunk = { startSample: this.#start, samples, audible: this.#audible(samples) };
    this.#buffer.copyWithin(0, at, this.#length);
    this.#length -= at;
    this.#start += at;
    return chunk;
  }

  /**
   * Where a full buffer is cut, in its last 40 %: the middle of the longest run of frames under
   * the gate (a pause); with none, the middle of the quietest QUIET_MS window.
   */
  #quietest(): number {
    const f = this.#frame;
    const frames = Math.floor(this.#length / f);
    const first = Math.floor(frames * SEARCH_FROM);
    const energies = new Float64Array(frames);
    for (let i = first; i < frames; i++) energies[i] = energy(this.#buffer, i * f, f);
    let run = 0;
    let bestRun = 0;
    let bestEnd = 0;
    for (let i = first; i < frames; i++) {
      run = (energies[i] as number) <= this.#gate ? run + 1 : 0;
      if (run > bestRun) {
        bestRun = run;
        bestEnd = i + 1;
      }
    }
    if (bestRun > 0) return (bestEnd - bestRun) * f + Math.floor((bestRun * f) / 2);
    const span = Math.max(1, Math.round(QUIET_MS / FRAME_MS));
    let best = frames;
    let bestSum = Number.POSITIVE_INFINITY;
    let sum = 0;
    for (let i = first; i < frames; i++) {
      sum += energies[i] as number;
      if (i - first >= span) sum -= energies[i - span] as number;
      if (i - first + 1 >= span && sum < bestSum) {
        bestSum = sum;
        best = i + 1 - Math.ceil(span / 2);
      }
    }
    return Math.min(this.#length, Math.max(f, best * f));
  }

  #audible(samples: Int16Array): boolean {
    const f = this.#frame;
    for (let i = 0; i + f <= samples.length; i += f) if (energy(samples, i, f) > this.#gate) return true;
    return false;
  }
}

function energy(samples: Int16Array, from: number, n: number): number {
  let sum = 0;
  for (let i = from; i < from + n; i++) {
    const s = samples[i] as number;
    sum += s * s;
  }
  return sum;
}
