/**
 * Puts Plivo's media on the call clock. Plivo stamps each chunk with Unix time in ms (not time
 * since the stream started, as Twilio does), so the first stamp of the stream, either track, is
 * the call's 0 and both tracks count from it. Plivo's docs do not say whether a stamp is the media
 * clock or the time it was sent; a chunk within SNAP_MS of where its track's last one ended is put
 * right there, so stamps that jitter by a few ms neither fill slivers of silence nor overlap, while
 * a lost chunk (20 ms) still leaves its gap.
 */

export const SNAP_MS = 8;
/** The longest a Plivo stream runs (streamTimeout's maximum, 24 h), with a minute to spare. */
const MAX_SPAN_MS = 86_400_000 + 60_000;

export class TrackClock {
  #baseMs: number | undefined;
  readonly #ends = new Map<string, number>();

  /** Where a chunk stamped `timestampMs`, `durationMs` long, starts on the call clock; undefined: refused. */
  place(track: string, timestampMs: number, durationMs: number): number | undefined {
    this.#baseMs ??= timestampMs;
    let atMs = timestampMs - this.#baseMs;
    const end = this.#ends.get(track);
    // The other track's first chunk may be stamped a hair before the first one seen: it starts at 0.
    if (end === undefined && atMs < 0 && atMs >= -SNAP_MS) atMs = 0;
    if (atMs < 0 || atMs > MAX_SPAN_MS) return undefined;
    if (end !== undefined && Math.abs(atMs - end) <= SNAP_MS) atMs = end;
    this.#ends.set(track, Math.max(end ?? 0, atMs + durationMs));
    return atMs;
  }
}
