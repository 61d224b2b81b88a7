/** What a recording puts where audio is redacted: silence, or a 1 kHz tone a listener can hear. */
export type AudioFill = 'silence' | 'tone';

/** A stretch of one leg's audio on the call clock, in ms. */
export interface TimeSpan {
  readonly startMs: number;
  readonly endMs: number;
}

/** Why a stretch is masked: a redacted entity's words, a key-press tone, or speech no engine transcribed. */
export type MaskReason = 'transcript' | 'dtmf' | 'untranscribed';

/**
 * Where audio may still be masked: the call-clock start of the oldest audio something has not
 * judged yet (a transcriber waiting for a final, redaction holding one back, a tone detector
 * hearing a tone). Undefined: it has judged everything it heard.
 */
export type HoldSource = () => number | undefined;

/** What a recorder channel asks of the leg's redaction (see CallRecorder.channel). */
export interface ChannelGate {
  readonly fill: AudioFill;
  /** Audio held longer than this is written masked: the recording fails closed, memory stays bounded. */
  readonly maxHoldMs: number;
  /** Audio before this call-clock time gets no new mask: it may be written. */
  settledBeforeMs(): number;
  /** The masks overlapping [fromMs, toMs), in order. */
  masksBetween(fromMs: number, toMs: number): readonly TimeSpan[];
  /** Everything before `ms` is written: its masks are no longer needed. */
  forgetBefore(ms: number): void;
}

export interface AudioRedactionOptions {
  readonly fill: AudioFill;
  readonly maxHoldMs: number;
  /** Each mask is widened by this on both sides: word times are estimates (about ±100 ms). */
  readonly marginMs?: number;
}

/** Word times from the engines are estimates; a mask this much wider covers their error. */
export const MASK_MARGIN_MS = 200;
/** Masks kept per leg (written ones are forgotten); past it the newest one absorbs the next. */
const MAX_MASKS_PER_LEG = 256;

interface LegRedaction {
  readonly masks: TimeSpan[];
  readonly sources: HoldSource[];
}

/**
 * A call's audio redaction: per leg, the spans of the call clock whose audio must not reach the
 * recording (a card number's words, a key-press tone), and what still holds audio back until it is
 * known whether it will be masked. The recorder writes a leg's audio only once it is settled, and
 * writes masked spans as silence or a tone. Masks and sources are per leg label.
 */
export class AudioRedaction {
  readonly #options: Required<AudioRedactionOptions>;
  readonly #legs = new Map<string, LegRedaction>();
  #maskedSpans = 0;

  constructor(options: AudioRedactionOptions) {
    this.#options = { marginMs: MASK_MARGIN_MS, ...options };
  }

  /** Masks added so far (all legs). */
  get maskedSpans(): number {
    return this.#maskedSpans;
  }

  /** `source` holds `leg`'s audio back while it says so (registered for the call's life). */
  hold(leg: string, source: HoldSource): void {
    this.#leg(leg).sources.push(source);
  }

  /** `leg`'s audio from `startMs` to `endMs` (widened by the margin) is not to be heard. */
  mask(leg: string, startMs: number, endMs: number, _reason: MaskReason): void {
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) return;
    const margin = this.#options.marginMs;
    const span = { startMs: Math.min(startMs, endMs) - margin, endMs: Math.max(startMs, endMs) + margin };
    const { masks } = this.#leg(leg);
    this.#maskedSpans++;
    // Sorted by start, merged where they touch: one pass over what is still unwritten.
    let i = masks.length;
    while (i > 0 && masks[i - 1].startMs > span.startMs) i--;
    let merged: TimeSpan = span;
    let from = i;
    if (from > 0 && masks[from - 1].endMs >= merged.startMs) {
      from--;
      merged = join(masks[from], merged);
    }
    let to = i;
    while (to < masks.length && masks[to].startMs <= merged.endMs) merged = join(merged, masks[to++]);
    masks.splice(from, to - from, merged);
    if (masks.length > MAX_MASKS_PER_LEG) {
      // Fail closed: the two newest become one (more is silenced, nothing is let through).
      const last = masks.pop() as TimeSpan;
      masks[masks.length - 1] = join(masks[masks.length - 1], last);
    }
  }

  /** The recorder's view of one leg. */
  gate(leg: string): ChannelGate {
    const state = this.#leg(leg);
    const margin = this.#options.marginMs;
    return {
      fill: this.#options.fill,
      maxHoldMs: this.#options.maxHoldMs,
      settledBeforeMs: () => {
        let settled = Number.POSITIVE_INFINITY;
        for (const source of state.sources) {
          const from = source();
          if (from !== undefined && Number.isFinite(from)) settled = Math.min(settled, from);
        }
        // A mask found later reaches `margin` before the words it covers.
        return settled - margin;
      },
      masksBetween: (fromMs, toMs) => state.masks.filter((m) => m.endMs > fromMs && m.startMs < toMs),
      forgetBefore: (ms) => {
        let n = 0;
        while (n < state.masks.length && state.masks[n].endMs <= ms) n++;
        if (n > 0) state.masks.splice(0, n);
      },
    };
  }

  #leg(leg: string): LegRedaction {
    let state = this.#legs.get(leg);
    if (!state) {
      state = { masks: [], sources: [] };
      this.#legs.set(leg, state);
    }
    return state;
  }
}

function join(a: TimeSpan, b: TimeSpan): TimeSpan {
  return { startMs: Math.min(a.startMs, b.startMs), endMs: Math.max(a.endMs, b.endMs) };
}
