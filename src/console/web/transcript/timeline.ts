import type { AgentSummary, DtmfRecord, ErrorEvent, FinalEvent, PartialEvent } from '../types.js';
import type { TranscriptState } from './transcript-state.js';

/** One row of a call's timeline, on the call clock. */
export type TimelineItem =
  | { readonly kind: 'utterance'; readonly atMs: number; readonly final: FinalEvent }
  | { readonly kind: 'partial'; readonly atMs: number; readonly partial: PartialEvent }
  | { readonly kind: 'error'; readonly atMs: number; readonly error: ErrorEvent }
  | { readonly kind: 'dtmf'; readonly atMs: number; readonly digit: string }
  | { readonly kind: 'barge-in'; readonly atMs: number; readonly reactionMs: number };

/**
 * Everything that happened on a call, merged in call-clock order: utterances, the partials still
 * being spoken, key presses, barge-ins and engine errors. An error carries a wall-clock time only;
 * it is placed where the call clock was then (`startedAt`: when the call began).
 */
export function timeline(
  transcript: TranscriptState,
  extra: { dtmf?: readonly DtmfRecord[]; agent?: AgentSummary | null; startedAt?: string },
): TimelineItem[] {
  const started = extra.startedAt ? Date.parse(extra.startedAt) : Number.NaN;
  const items: TimelineItem[] = [
    ...transcript.finals.map((final) => ({ kind: 'utterance' as const, atMs: final.startMs, final })),
    ...(extra.dtmf ?? []).map((d) => ({ kind: 'dtmf' as const, atMs: d.atMs ?? 0, digit: d.digit })),
    ...(extra.agent?.bargeIns ?? []).map((b) => ({
      kind: 'barge-in' as const,
      atMs: b.atMs,
      reactionMs: b.reactionMs,
    })),
    ...transcript.errors.map((error) => ({
      kind: 'error' as const,
      atMs: Number.isNaN(started) ? Number.POSITIVE_INFINITY : Math.max(0, Date.parse(error.at) - started),
      error,
    })),
  ];
  items.sort((a, b) => a.atMs - b.atMs);
  // Partials are what is being said now: after everything final.
  for (const partial of Object.values(transcript.partials)) {
    items.push({ kind: 'partial', atMs: partial.startMs, partial });
  }
  return items;
}
