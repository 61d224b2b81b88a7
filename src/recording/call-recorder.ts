import type { AudioFrame } from '../audio/frame.js';
import type { LegConsumer } from '../calls/leg.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { FORMATS, type RecordingFormat, WavWriter } from './wav-writer.js';

export interface RecordingInfo {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly sampleRate: number;
  readonly durationMs: number;
  readonly sha256: string;
  readonly bytes: number;
  /** With RECORDING_STORE=s3://…: the object the recording is (being) uploaded to, `s3://bucket/key`. */
  readonly objectUrl?: string;
}

/** How often buffered audio goes to the file (and the header is brought up to date). */
const FLUSH_MS = 500;
/** A channel this far behind the other is padded with silence rather than holding the file back. */
const MAX_LAG_MS = 1_000;
/** Frames farther than this from the call clock's start are not written (no leg makes them). */
const MAX_START_SAMPLES = 2 ** 40;

type Samples = Int16Array | Uint8Array;

interface Channel {
  /** Copies of the leg's audio (with silence pads), from the recorder's write position on. */
  chunks: Samples[];
  samples: number;
  /** Samples of this channel's clock left out of the file: time its leg skipped, or a jump. */
  offset: number;
}

/**
 * A call's dual-channel WAV (channel order given at construction: caller left, agent right), each
 * leg's audio placed by its call-clock time, written as the call runs. Missing audio on a channel
 * is silence; a channel that lags more than a second is padded so the other is not held back.
 *
 * Time a leg skipped (a timestamp jump its aligner did not fill) is not written: each channel keeps
 * the skipped time as an offset from its clock, so its audio goes on where it stopped and the other
 * channel, whose clock did not jump, is not padded either. The channels stay together in real time,
 * which is what a listener hears. A source without skip marks (played audio on a clock that
 * jumped) is never placed more than `maxPadMs` past the furthest channel: beyond that it is a jump,
 * not a pause, and it starts where the call has got to. So no frame makes the recorder write more
 * silence than that bound, whatever its timestamp.
 */
export class CallRecorder {
  readonly #writer: WavWriter;
  readonly #format: (typeof FORMATS)[RecordingFormat];
  readonly #formatName: RecordingFormat;
  readonly #channels: Channel[];
  readonly #clock: Clock;
  readonly #timer: TimerHandle;
  /** Most silence put before one frame, in samples. */
  readonly #maxPad: number;
  #closed: Promise<RecordingInfo> | undefined;
  /** A flush threw: nothing more is written; close() reports it. */
  #failed: Error | undefined;

  /**
   * `maxPadMs`: the legs' fill limit (MAX_GAP_FILL_MS): a quiet stretch that long is real time the
   * legs would fill too; at least MAX_LAG_MS, so played audio sent a little ahead stays in place.
   * `clock` runs the flush interval (a call's scope timers, so the scope owns it; the system clock by default).
   */
  constructor(
    path: string,
    format: RecordingFormat,
    channels: number,
    maxPadMs = MAX_LAG_MS,
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
    this.#formatName = format;
    this.#format = FORMATS[format];
    this.#maxPad = Math.round((Math.max(maxPadMs, MAX_LAG_MS) * this.#format.sampleRate) / 1000);
    this.#writer = new WavWriter(path, format, channels);
    this.#channels = Array.from({ length: channels }, () => ({ chunks: [], samples: 0, offset: 0 }));
    this.#timer = clock.setInterval(() => {
      // A timer the call owns: a recording that cannot be written must not end the process.
      try {
        this.#flush(false);
      } catch (err) {
        this.#clock.clearInterval(this.#timer);
        this.#failed = err as Error;
      }
    }, FLUSH_MS);
    this.#timer.unref();
  }

  /** The consumer that feeds channel `index` from a leg. */
  channel(index: number): LegConsumer {
    return { push: (frame) => this.#push(index, frame), end: () => undefined };
  }

  close(): Promise<RecordingInfo> {
    this.#closed ??= (async () => {
      this.#clock.clearInterval(this.#timer);
      if (this.#failed) {
        await this.#writer.close().catch(() => undefined); // the file handle is released either way
        throw this.#failed;
      }
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
    const start = Math.round((frame.startMs * this.#format.sampleRate) / 1000);
    if (!(Math.abs(start) <= MAX_START_SAMPLES)) return; // NaN too: the legs refuse such timestamps
    const audio: Samples = this.#formatName === 'pcm16' ? frame.pcm : frame.mulaw;
    const channel = this.#channels[index];
    const at = this.#place(channel, start, frame.skippedMs ?? 0) - this.#writtenSamples();
    const skip = Math.max(0, channel.samples - at); // overlaps what the channel already holds
    if (skip >= audio.length) return;
    if (at > channel.samples) this.#pad(channel, at - channel.samples);
    channel.chunks.push(audio.slice(skip)); // the frame is lent: keep a copy
    channel.samples += audio.length - skip;
  }

  /** Where in the file (samples from its start) a frame at `start` on the channel's clock goes. */
  #place(channel: Channel, start: number, skippedMs: number): number {
    const written = this.#writtenSamples();
    const end = written + channel.samples;
    let at = start - channel.offset;
    if (skippedMs > 0 && at > end) {
      // The leg skipped this stretch: its audio goes on where it stopped.
      const skipped = Math.round((skippedMs * this.#format.sampleRate) / 1000);
      const cut = Math.min(skipped, at - end);
      channel.offset += cut;
      at -= cut;
    }
    let lead = end;
    for (const c of this.#channels) lead = Math.max(lead, written + c.samples);
    if (at > lead + this.#maxPad) {
      // A jump no leg marked (played audio placed by a clock that jumped): start where the call is.
      channel.offset += at - lead;
      at = lead;
    }
    return at;
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
