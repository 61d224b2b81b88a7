import { type AudioFrame, CARRIER_RATE_HZ } from '../audio/frame.js';
import { isValidPosition, LegAligner, type SampleArray } from '../audio/leg-aligner.js';
import { createLegDecoder, type DecodedChunk, type LegCodec, type LegDecoder } from '../audio/leg-decoder.js';
import type { LegSpec } from '../carriers/carrier.js';

/** Whatever takes a leg's audio: a speech engine, a recorder, a test tap. */
export interface LegConsumer {
  /**
   * Called synchronously on the media path: must not block; buffer (bounded) and return.
   * `frame.pcm` is lent for this call only (see AudioFrame): copy what you keep.
   */
  push(frame: AudioFrame): void;
  /** The leg has ended; no more frames. */
  end(): void;
}

export interface LegStats {
  readonly label: string;
  readonly track: string;
  readonly codec: LegCodec;
  /** The carrier's sample rate for this leg. */
  readonly sampleRate: number;
  /** Media messages received for this leg. */
  readonly framesReceived: number;
  /** Real audio passed on, in seconds. */
  readonly audioSeconds: number;
  readonly gapFilledMs: number;
  readonly skippedMs: number;
  /** Packets dropped as duplicate, too late, or with a timestamp out of range. */
  readonly framesDropped: number;
  /** Of `framesDropped`: packets refused for a timestamp out of range (NaN, negative ms, absurdly far). */
  readonly badTimestamps: number;
  readonly droppedMs: number;
  readonly reordered: number;
  /** End of the leg's timeline on the call clock, in ms. */
  readonly positionMs: number | null;
}

/** Jitter handling per leg, in ms so it holds at any carrier rate. */
export interface LegTiming {
  /** Audio queued behind a gap before the gap is given up on (0 = never wait). */
  readonly reorderWindowMs: number;
  /** Longest gap filled with silence; longer ones are skipped (the timeline jumps). */
  readonly maxFillMs: number;
  /** Most packets held at once. */
  readonly maxQueued: number;
  /** The monotonic clock (ms) that bounds gap filling and places media in time (the call's Clock). */
  readonly now?: () => number;
}

const FILL_CHUNK_MS = 20; // fill gaps in 20 ms frames, like real audio

/**
 * One leg of a call: carrier audio (G.711 or linear PCM, at the carrier's rate, placed by the
 * carrier's timestamps) in; aligned 16 kHz AudioFrames out to its consumers.
 */
export class Leg {
  readonly label: string;
  readonly track: string;
  readonly codec: LegCodec;
  readonly sampleRate: number;
  /** Longest gap this leg fills with silence (ms); longer ones are skipped. */
  readonly maxFillMs: number;
  framesReceived = 0;
  consumerErrors = 0;
  readonly #bytes: LegAligner<Uint8Array> | undefined;
  readonly #pcm: LegAligner<Int16Array> | undefined;
  /** Whichever of the two this leg uses. */
  readonly #timeline: LegAligner<Uint8Array> | LegAligner<Int16Array>;
  readonly #samplesPerMs: number;
  readonly #consumers: LegConsumer[] = [];
  readonly #onConsumerError: (err: unknown) => void;
  #ended = false;
  #paused = false;
  /** Call-clock end of the newest media message, and when (performance.now()) it arrived. */
  #mediaEndMs: number | undefined;
  #mediaArrivedAt = 0;
  readonly #tracksClock: boolean;
  /** Samples the aligner skipped since the last frame delivered: told to consumers on the next one. */
  #skipped = 0;

  /** `tracksClock`: keep the carrier clock readable (`clockMs`), for calls that play audio back. */
  readonly #now: () => number;
  constructor(
    spec: LegSpec,
    timing: LegTiming,
    onConsumerError: (err: unknown) => void,
    tracksClock = false,
  ) {
    this.label = spec.label;
    this.track = spec.track;
    this.codec = spec.codec ?? 'pcmu';
    this.maxFillMs = timing.maxFillMs;
    this.#now = timing.now ?? (() => performance.now());
    this.#tracksClock = tracksClock;
    this.#onConsumerError = onConsumerError;
    if (this.codec === 'l16') {
      const decoder = createLegDecoder('l16', spec.sampleRate ?? CARRIER_RATE_HZ);
      this.sampleRate = decoder.sampleRate;
      this.#pcm = this.#aligner(decoder, timing);
      this.#timeline = this.#pcm;
    } else {
      const decoder = createLegDecoder(this.codec);
      this.sampleRate = decoder.sampleRate;
      this.#bytes = this.#aligner(decoder, timing);
      this.#timeline = this.#bytes;
    }
    this.#samplesPerMs = this.sampleRate / 1000;
  }

  #aligner<T extends SampleArray>(decoder: LegDecoder<T>, timing: LegTiming): LegAligner<T> {
    const perMs = decoder.sampleRate / 1000;
    const fillChunk = FILL_CHUNK_MS * perMs;
    const silence = decoder.silence(fillChunk);
    const maxFill = Math.round(timing.maxFillMs * perMs);
    const now = this.#now;
    const options = {
      reorderWindow: Math.round(timing.reorderWindowMs * perMs),
      maxFill,
      // Silence filled in all may not outrun the time that passed since the first gap (plus one
      // longest gap): timestamps that jump by just under the fill limit once turned each
      // packet into seconds of silence for the recorder, the VAD and the engine.
      fillAllowance: () => {
        this.#firstGapAt ??= now();
        return Math.round((now() - this.#firstGapAt) * perMs) + maxFill;
      },
      maxQueued: timing.maxQueued,
    };
    return new LegAligner<T>(options, {
      audio: (start, payload) => this.#deliver(start, payload.length, decoder.decode(payload), false),
      gap: (start, length) => {
        for (let done = 0; done < length; done += fillChunk) {
          const n = Math.min(fillChunk, length - done);
          const chunk = decoder.decode(silence.subarray(0, n) as T);
          this.#deliver(start + done, n, chunk, true);
        }
      },
      skip: (_start, length) => {
        this.#skipped += length;
      },
    });
  }

  attach(consumer: LegConsumer): void {
    this.#consumers.push(consumer);
  }

  /** μ-law bytes that the carrier stamped at `timestampMs` on the call clock (Twilio). */
  pushMulaw(timestampMs: number, payload: Uint8Array): void {
    // Twilio stamps ms since the stream started, so a negative one is refused (NaN: the aligner
    // counts it). Sample positions may be negative: an RTP stream's first packets can arrive out of order.
    this.pushBytes(timestampMs >= 0 ? timestampMs * this.#samplesPerMs : Number.NaN, payload);
  }

  /** G.711 bytes (this leg's codec) starting at sample `start` of the leg's timeline. */
  pushBytes(start: number, payload: Uint8Array): void {
    if (this.#ended) return;
    if (!this.#bytes) throw new TypeError(`leg ${this.label} takes ${this.codec}, not G.711 bytes`);
    this.framesReceived++;
    if (this.#tracksClock && isValidPosition(start))
      this.#noteClock((start + payload.length) / this.#samplesPerMs);
    this.#bytes.push(start, payload); // refuses (and counts) a position out of range
  }

  /** Linear PCM16 at the leg's rate starting at sample `start` of the leg's timeline. */
  pushPcm(start: number, payload: Int16Array): void {
    if (this.#ended) return;
    if (!this.#pcm) throw new TypeError(`leg ${this.label} takes ${this.codec}, not linear PCM`);
    this.framesReceived++;
    if (this.#tracksClock && isValidPosition(start))
      this.#noteClock((start + payload.length) / this.#samplesPerMs);
    this.#pcm.push(start, payload); // refuses (and counts) a position out of range
  }

  /** Where the leg's timeline has got to, in samples at its rate (undefined before it starts). */
  get position(): number | undefined {
    return this.#timeline.position;
  }

  /** Releases held audio and tells consumers the leg is over. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#timeline.flush();
    this.#ended = true;
    for (const consumer of this.#consumers) {
      try {
        consumer.end();
      } catch (err) {
        this.consumerFailed(err);
      }
    }
  }

  /** When (wall clock) the first gap was filled: the fill allowance counts from there. */
  #firstGapAt: number | undefined;

  #noteClock(endMs: number): void {
    if (this.#mediaEndMs !== undefined && endMs <= this.#mediaEndMs) return;
    this.#mediaEndMs = endMs;
    this.#mediaArrivedAt = this.#now();
  }

  /** Where the carrier's clock is at `now` (on the timing clock), judged from the newest media. */
  clockMs(now: number): number | undefined {
    return this.#mediaEndMs === undefined ? undefined : this.#mediaEndMs + (now - this.#mediaArrivedAt);
  }

  stats(): LegStats {
    const c = this.#timeline.counts;
    const position = this.#timeline.position;
    const perMs = this.#samplesPerMs;
    return {
      label: this.label,
      track: this.track,
      codec: this.codec,
      sampleRate: this.sampleRate,
      framesReceived: this.framesReceived,
      audioSeconds: c.samples / (perMs * 1000),
      gapFilledMs: c.filledSamples / perMs,
      skippedMs: c.skippedSamples / perMs,
      framesDropped: c.droppedPackets,
      badTimestamps: c.badTimestamps,
      droppedMs: c.droppedSamples / perMs,
      reordered: c.reordered,
      positionMs: position === undefined ? null : position / perMs,
    };
  }

  /**
   * Paused (secure mode for payments): from now on every frame reaches the consumers as silence,
   * so the recorder writes silence and the transcriber hears none of it.
   */
  setPaused(paused: boolean): void {
    this.#paused = paused;
  }

  #deliver(start: number, samples: number, chunk: DecodedChunk, filled: boolean): void {
    if (this.#paused) {
      // The leg's own decoded buffers: the audio goes no further than this.
      chunk.pcm.fill(0);
      chunk.mulaw.fill(0xff);
    }
    const skipped = this.#skipped;
    this.#skipped = 0;
    const frame: AudioFrame = {
      leg: this.label,
      pcm: chunk.pcm,
      mulaw: chunk.mulaw,
      startMs: start / this.#samplesPerMs,
      durationMs: samples / this.#samplesPerMs,
      filled,
      skippedMs: skipped / this.#samplesPerMs,
    };
    for (const consumer of this.#consumers) {
      try {
        consumer.push(frame);
      } catch (err) {
        this.consumerFailed(err);
      }
    }
  }

  /** A consumer threw (or could not be made for this leg): counted, reported; the leg goes on. */
  consumerFailed(err: unknown): void {
    this.consumerErrors++;
    this.#onConsumerError(err);
  }
}
