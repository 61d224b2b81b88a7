/**
 * The console's AudioWorklet processors, loaded with audioWorklet.addModule (a bundle of its own).
 * `voxline-capture` hands each 128-sample block of the microphone to the page; `voxline-playback`
 * plays the agent's audio from a queue the page fills, and drops the queue on `clear` (barge-in).
 */

declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, processor: new () => AudioWorkletProcessor): void;
declare const sampleRate: number;

class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs: Float32Array[][]): boolean {
    const channel = inputs[0]?.[0];
    if (channel) this.port.postMessage(channel.slice());
    return true;
  }
}

/** At most this much agent audio is queued (the server paces it; more means the page fell behind). */
const MAX_QUEUED_SECONDS = 10;

class PlaybackProcessor extends AudioWorkletProcessor {
  #queue: Float32Array[] = [];
  #offset = 0;
  #queued = 0;
  #playing = false;
  #played = 0;
  #sinceReport = 0;

  constructor() {
    super();
    this.port.onmessage = (
      event: MessageEvent<{ type: 'pcm'; samples: Float32Array } | { type: 'clear' }>,
    ) => {
      if (event.data.type === 'clear') {
        this.#queue = [];
        this.#offset = 0;
        this.#queued = 0;
        this.#report();
        return;
      }
      if (this.#queued > MAX_QUEUED_SECONDS * sampleRate) return;
      this.#queue.push(event.data.samples);
      this.#queued += event.data.samples.length;
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]?.[0];
    if (!out) return true;
    let at = 0;
    while (at < out.length && this.#queue.length > 0) {
      const head = this.#queue[0];
      const n = Math.min(out.length - at, head.length - this.#offset);
      out.set(head.subarray(this.#offset, this.#offset + n), at);
      at += n;
      this.#offset += n;
      this.#queued -= n;
      this.#played += n;
      if (this.#offset === head.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
    }
    out.fill(0, at);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    const playing = at > 0;
    this.#sinceReport += out.length;
    if (playing !== this.#playing || this.#sinceReport >= sampleRate / 10) this.#report(playing);
    return true;
  }

  #report(playing = this.#queued > 0): void {
    this.#playing = playing;
    this.#sinceReport = 0;
    this.port.postMessage({
      playing,
      playedMs: Math.round((this.#played * 1000) / sampleRate),
      queued: this.#queued,
    });
  }
}

registerProcessor('voxline-capture', CaptureProcessor);
registerProcessor('voxline-playback', PlaybackProcessor);
