/** The one audio type the core handles: a leg's PCM16 at 16 kHz, placed on the call clock. */
export interface AudioFrame {
  /** Leg label, e.g. `caller` or `agent`. */
  readonly leg: string;
  /** PCM16 mono at 16 kHz. */
  readonly pcm: Int16Array;
  /** Where the frame starts on the call clock (ms since the carrier's stream start). */
  readonly startMs: number;
  readonly durationMs: number;
  /** True when voxline made this frame up: silence filling a gap the carrier left. */
  readonly filled: boolean;
}

export const PCM_RATE_HZ = 16_000;
export const CARRIER_RATE_HZ = 8_000;
export const SAMPLES_PER_MS_8K = CARRIER_RATE_HZ / 1000;
