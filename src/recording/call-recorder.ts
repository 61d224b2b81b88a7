import type { AudioFrame } from '../audio/frame.js';
import type { LegConsumer } from '../calls/leg.js';
import { FORMATS, type RecordingFormat, WavWriter } from './wav-writer.js';

export interface RecordingInfo {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly sampleRate: number;
  readonly durationMs: number;
  readonly sha256: string;
  readonly bytes: number;
}

/** How often buffered audio goes to the file (and the header is brought up to date). */
const FLUSH_MS = 500;
/** A channel this far behind the other is padded with silence rather than holding the file back. */
const MAX_LAG_MS = 1_000;

type Samples = Int16Array | Uint8Array;

interface Channel {
  /** Copies of the leg's audio (with silence pads), from the recorder's write position on. */
  chunks: Samples[];
  samples: number;
}

/**
 * A call's dual-channel WAV (channel order given at construction: caller left, agent right), each
 * leg's audio placed by its call-clock time, written as the call runs. Missing audio on a channel
 * is silence; a channel that lags more than a second is padded so the other is not held back.
 */
export class CallRecorder {
  readonly #writer: WavWriter;
  readonly #format: (typeof FORMATS)[RecordingFormat];
  readonly #formatName: RecordingFormat;
  readonly #channels: Channel[];
  readonly #timer: NodeJS.Timeout;
  #closed: Promise<RecordingInfo> | undefined;

  constructor(path: string, format: RecordingFormat, channels: number) {
    this.#formatName = format;
    this.#format = FORMATS[format];
    this.#writer = new WavWriter(path, format, channels);
    this.#channels = Array.from({ length: channels }, () => ({ chunks: [], samples: 0 }));
    this.#timer = setInterval(() => this.#flush(false), FLUSH_MS);
    this.#timer.unref();
  }

  /** The consumer that feeds channel `index` from a leg. */
  channel(index: number): LegConsumer {
    return { push: (frame) => this.#push(index, frame), end: () => undefined };
  }

  close(): Promise<RecordingInfo> {
    this.#closed ??= (async () => {
      clearInterval(this.#timer);
      this.#flush(true);
      const { sha256, bytes } = await this.#writer.close();
      return {
        path: this.#writer.path,
        format: this.#formatName,
        sampleRate: this.#format.sampleRate,
        durationMs: this.#writer.durationMs,
        sha256,
        bytes,
      };
    })();
    return this.#closed;
  }

  #push(index: number, frame: AudioFrame): void {
    if (this.#closed) return;
    const f = this.#format;
    const audio: Samples = this.#formatName === 'pcm16' ? frame.pcm : frame.mulaw;
    const channel = this.#channels[index];
    const at = Math.round((frame.startMs * f.sampleRate) / 1000) - this.#writtenSamples();
    const skip = Math.max(0, channel.samples - at); // overlaps what the channel already holds
    if (skip >= audio.length) return;
    if (at > channel.samples) this.#pad(channel, at - channel.samples);
    channel.chunks.push(audio.slice(skip)); // the frame is lent: keep a copy
    channel.samples += audio.length - skip;
  }

  #pad(channel: Channel, samples: number): void {
    const silence =
      this.#formatName === 'pcm16' ? new Int16Array(samples) : new Uint8Array(samples).fill(0xff);
    channel.chunks.push(silence);
    channel.samples += samples;
  }

  #writtenSamples(): number {
    return this.#writer.dataBytes / (this.#format.bytesPerSample * this.#channels.length);
  }

  /** Writes what every channel has (padding laggards, or everything at the end), interleaved. */
  #flush(final: boolean): void {
    const f = this.#format;
    const lead = Math.max(...this.#channels.map((c) => c.samples));
    const floor = final ? lead : lead - (MAX_LAG_MS * f.sampleRate) / 1000;
    for (const c of this.#channels) if (c.samples < floor) this.#pad(c, floor - c.samples);
    const n = Math.min(...this.#channels.map((c) => c.samples));
    if (n <= 0) return;
    const k = this.#channels.length;
    const out: Samples = this.#formatName === 'pcm16' ? new Int16Array(n * k) : new Uint8Array(n * k);
    for (let ch = 0; ch < k; ch++) {
      const channel = this.#channels[ch];
      let i = 0;
      while (i < n) {
        const chunk = channel.chunks[0];
        const take = Math.min(chunk.length, n - i);
        for (let j = 0; j < take; j++) out[(i + j) * k + ch] = chunk[j];
        i += take;
        if (take === chunk.length) channel.chunks.shift();
        else channel.chunks[0] = chunk.subarray(take);
      }
      channel.samples -= n;
    }
    this.#writer.append(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  }
}
