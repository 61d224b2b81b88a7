/** The one audio type the core handles: a leg's PCM16 at 16 kHz, placed on the call clock. */
export interface AudioFrame {
  /** Leg label, e.g. `caller` or `agent`. */
  readonly leg: string;
  /**
   * PCM16 mono at 16 kHz, **lent** for the duration of the consumer's `push()` call: the leg reuses
   * this buffer for its next frame. Read it, encode it or copy it (`pcm.slice()`) before
   * returning; never keep a reference or write to it. (Allocating a fresh array per frame costs
   * more than the whole conversion and, at 100,000 frames a second, the GC pauses that come with it.)
   */
  readonly pcm: Int16Array;
  /**
   * The same audio as the carrier sent it (G.711 μ-law, 8 kHz), lent like `pcm`: for engines that
   * take telephone audio as is. Silence (0xFF) for frames voxline made up.
   */
  readonly mulaw: Uint8Array;
  /** Where the frame starts on the call clock (ms since the carrier's stream start). */
  readonly startMs: number;
  readonly durationMs: number;
  /** True when voxline made this frame up: silence filling a gap the carrier left. */
  readonly filled: boolean;
  /**
   * Call-clock time the leg skipped just before this frame (a timestamp jump longer than the fill
   * limit), 0 or absent when none. It is not time that passed: a consumer that lays audio on a
   * timeline (the recorder) leaves it out.
   */
  readonly skippedMs?: number;
}

export const PCM_RATE_HZ = 16_000;
export const CARRIER_RATE_HZ = 8_000;
export const SAMPLES_PER_MS_8K = CARRIER_RATE_HZ / 1000;
