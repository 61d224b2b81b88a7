import type { AudioFrame } from '../audio/frame.js';
import type { LegConsumer } from '../calls/leg.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import type { ChannelGate } from '../compliance/audio-redaction.js';
import { hiddenSamples, maskSampler, settledSamples } from './channel-masking.js';
import { SealedWavWriter, type Sealing } from './sealed-wav-writer.js';
import type { WavMark } from './wav-markers.js';
import { FORMATS, type RecordingFormat, type RecordingWriter, WavWriter } from './wav-writer.js';

export interface RecordingInfo {
  readonly path: string;
  readonly format: RecordingFormat;
  readonly sampleRate: number;
  readonly durationMs: number;
  readonly sha256: string;
  readonly bytes: number;
  /** With RECORDING_STORE=s3://…: the object the recording is (being) uploaded to, `s3://bucket/key`. */
  readonly objectUrl?: string;
  /** Audio redaction: channel-ms written masked over redacted spans, and unsettled (withheld: fail closed). */
  readonly redaction?: { readonly maskedMs: number; readonly withheldMs: number };
  /**
   * Encryption at rest (ENCRYPTION_KEY): the file is sealed under a data key wrapped by master key
   * `keyId`; `sha256` and `bytes` here are the sealed file's (what is on disk and uploaded), while
   * the fields above stay those of the decrypted WAV a listener gets.
   */
  readonly encrypted?: { readonly keyId: string; readonly sha256: string; readonly bytes: number };
}

/**
 * How often buffered audio goes to the file: one write per call a second (at 500 ms the
 * recorder's writes were a large share of the event loop under load; bench/per-message.ts).
 */
export const RECORDER_FLUSH_MS = 1_000;
/** A channel this far behind the other is padded with silence rather than holding the file back. */
const MAX_LAG_MS = 1_000;
/** Frames farther than this from the call clock's start are not written (no leg makes them). */
const MAX_START_SAMPLES = 2 ** 40;

type Samples = Int16Array | Uint8Array;

interface Channel {
  /** Copies of the leg's audio (with silence pads), from the recorder's write position on. */
  chunks: Samples[];
  /** Call-clock sample index of each chunk's first sample (NaN: a pad). */
  clocks: number[];
  samples: number;
  /** Samples of this channel's clock left out of the file: time its leg skipped, or a jump. */
  offset: number;
  /** Audio redaction: audio is written once settled, masked spans hidden. */
  gate?: ChannelGate;
  mask?: (at: number) => number;
  maskedSamples: number;
  withheldSamples: number;
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
  readonly #writer: RecordingWriter;
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
   * `sealing`: encryption at rest (ENCRYPTION_KEY): the file is written sealed (SealedWavWriter).
   */
  constructor(
    path: string,
    format: RecordingFormat,
    channels: number,
    maxPadMs = MAX_LAG_MS,
    clock: Clock = systemClock,
    sealing?: Sealing,
  ) {
    this.#clock = clock;
    this.#formatName = format;
    this.#format = FORMATS[format];
    this.#maxPad = Math.round((Math.max(maxPadMs, MAX_LAG_MS) * this.#format.sampleRate) / 1000);
    this.#writer = sealing
      ? new SealedWavWriter(path, format, channels, sealing)
      : new WavWriter(path, format, channels);
    this.#channels = Array.from({ length: channels }, () => ({
      chunks: [],
      clocks: [],
      samples: 0,
      offset: 0,
      maskedSamples: 0,
      withheldSamples: 0,
    }));
    this.#timer = clock.setInterval(() => {
      // A timer the call owns: a recording that cannot be written must not end the process.
      try {
        this.#flush(false);
      } catch (err) {
        this.#clock.clearInterval(this.#timer);
        this.#failed = err as Error;
      }
    }, RECORDER_FLUSH_MS);
    this.#timer.unref();
  }

  /**
   * The consumer that feeds channel `index` from a leg. With `gate` (audio redaction), the channel's
   * audio is held until the gate says it is settled, and its masked spans are written as silence
   * or a tone; audio held past the gate's maximum, or still unsettled at close, is written masked.
   */
  channel(index: number, gate?: ChannelGate): LegConsumer {
    const channel = this.#channels[index];
    if (gate) {
      channel.gate = gate;
      channel.mask = maskSampler(this.#formatName, this.#format.sampleRate, gate.fill);
    }
    return { push: (frame) => this.#push(index, frame), end: () => undefined };
  }

  /** Audio buffered ahead of the file, in ms (the most of any channel): what a crash would lose. */
  get heldMs(): number {
    return (Math.max(...this.#channels.map((c) => c.samples)) * 1000) / this.#format.sampleRate;
  }

  /** Finishes the file; `marks` (the call's pauses, call-clock ms) become WAV cue points and labelled regions. */
  close(marks?: readonly WavMark[]): Promise<RecordingInfo> {
    this.#closed ??= (async () => {
      this.#clock.clearInterval(this.#timer);
      if (this.#failed) {
        await this.#writer.close().catch(() => undefined); // the file handle is released either way
        throw this.#failed;
      }
      this.#flush(true);
      const { sha256, bytes, sealed } = await this.#writer.close(marks);
      return {
        path: this.#writer.path,
        format: this.#formatName,
        sampleRate: this.#format.sampleRate,
        durationMs: this.#writer.durationMs,
        sha256,
        bytes,
        ...this.#redactionInfo(),
        ...(sealed ? { encrypted: sealed } : {}),
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
    channel.clocks.push(start + skip);
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
    channel.clocks.push(Number.NaN);
    channel.samples += samples;
  }

  #writtenSamples(): number {
    return this.#writer.dataBytes / (this.#format.bytesPerSample * this.#channels.length);
  }

  /**
   * Writes what every channel has (padding laggards, or everything at the end), interleaved. A
   * gated channel gives only its settled audio (or what it has held past its maximum), so the
   * others wait for it; at the end everything goes, unsettled audio masked.
   */
  #flush(final: boolean): void {
    const f = this.#format;
    const lead = Math.max(...this.#channels.map((c) => c.samples));
    const floor = final ? lead : lead - (MAX_LAG_MS * f.sampleRate) / 1000;
    for (const c of this.#channels) if (c.samples < floor) this.#pad(c, floor - c.samples);
    let n = Math.min(...this.#channels.map((c) => c.samples));
    const settled = this.#channels.map((c) =>
      c.gate ? settledSamples(c, c.gate, f.sampleRate, c.samples) : c.samples,
    );
    if (!final) {
      this.#channels.forEach((c, ch) => {
        if (!c.gate) return;
        const overdue = c.samples - Math.floor((c.gate.maxHoldMs * f.sampleRate) / 1000);
        n = Math.min(n, Math.max(settled[ch], overdue));
      });
    }
    if (n <= 0) return;
    const k = this.#channels.length;
    const out: Samples = this.#formatName === 'pcm16' ? new Int16Array(n * k) : new Uint8Array(n * k);
    for (let ch = 0; ch < k; ch++) {
      const channel = this.#channels[ch];
      const pieces: { at: number; clock: number; length: number }[] = [];
      let i = 0;
      while (i < n) {
        const chunk = channel.chunks[0];
        const clock = channel.clocks[0];
        const take = Math.min(chunk.length, n - i);
        for (let j = 0; j < take; j++) out[(i + j) * k + ch] = chunk[j];
        if (channel.gate) pieces.push({ at: i, clock, length: take });
        i += take;
        if (take === chunk.length) {
          channel.chunks.shift();
          channel.clocks.shift();
        } else {
          channel.chunks[0] = chunk.subarray(take);
          channel.clocks[0] = clock + take;
        }
      }
      channel.samples -= n;
      if (channel.gate) this.#hide(channel, out, ch, k, n, Math.min(n, settled[ch]), pieces);
    }
    this.#writer.append(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  }

  /** Overwrites a gated channel's masked and unsettled samples in `out`, and forgets its written masks. */
  #hide(
    channel: Channel,
    out: Samples,
    ch: number,
    k: number,
    n: number,
    settled: number,
    pieces: readonly { at: number; clock: number; length: number }[],
  ): void {
    const gate = channel.gate as ChannelGate;
    const mask = channel.mask as (at: number) => number;
    const rate = this.#format.sampleRate;
    const hidden = hiddenSamples(n, settled, pieces, gate, rate);
    for (const piece of pieces) {
      for (let j = 0; j < piece.length; j++) {
        const kind = hidden[piece.at + j];
        if (kind === 0) continue;
        const clock = piece.clock + j;
        out[(piece.at + j) * k + ch] = mask(Number.isNaN(clock) ? piece.at + j : clock);
        if (kind === 1) channel.maskedSamples++;
        else channel.withheldSamples++;
      }
    }
    const last = pieces.findLast((p) => !Number.isNaN(p.clock));
    if (last) gate.forgetBefore(((last.clock + last.length) * 1000) / rate);
  }

  #redactionInfo(): Pick<RecordingInfo, 'redaction'> {
    if (!this.#channels.some((c) => c.gate)) return {};
    const ms = (samples: number) => Math.round((samples * 1000) / this.#format.sampleRate);
    let masked = 0;
    let withheld = 0;
    for (const c of this.#channels) {
      masked += c.maskedSamples;
      withheld += c.withheldSamples;
    }
    return { redaction: { maskedMs: ms(masked), withheldMs: ms(withheld) } };
  }
}
