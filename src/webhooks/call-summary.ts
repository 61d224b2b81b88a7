/** A speaker's utterance span on the call clock. */
export interface Span {
  readonly speaker: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface CallSummary {
  readonly talkTimeMs: Record<string, number>;
  readonly overlaps: { startMs: number; endMs: number; speakers: string[] }[];
  readonly interruptions: { atMs: number; speaker: string; interrupted: string }[];
  readonly longestSilenceMs: number;
}

/**
 * Conversation figures from the utterances of a call (pure): talk time per speaker (union of their
 * spans), stretches where two or more speak at once, interruptions (someone starts while another
 * is mid-utterance), and the longest stretch in which nobody speaks, within [0, durationMs].
 */
export function summarize(spans: readonly Span[], durationMs: number): CallSummary {
  const bySpeaker = new Map<string, Span[]>();
  for (const s of spans) bySpeaker.set(s.speaker, [...(bySpeaker.get(s.speaker) ?? []), s]);
  const talkTimeMs: Record<string, number> = {};
  const merged = new Map<string, [number, number][]>();
  for (const [speaker, list] of bySpeaker) {
    const union = mergeIntervals(list.map((s) => [s.startMs, s.endMs]));
    merged.set(speaker, union);
    talkTimeMs[speaker] = union.reduce((sum, [a, b]) => sum + (b - a), 0);
  }

  const overlaps: CallSummary['overlaps'] = [];
  const speakers = [...merged.keys()];
  for (let i = 0; i < speakers.length; i++) {
    for (let j = i + 1; j < speakers.length; j++) {
      for (const [a0, a1] of merged.get(speakers[i]) ?? []) {
        for (const [b0, b1] of merged.get(speakers[j]) ?? []) {
          const start = Math.max(a0, b0);
          const end = Math.min(a1, b1);
          if (end > start)
            overlaps.push({ startMs: start, endMs: end, speakers: [speakers[i], speakers[j]] });
        }
      }
    }
  }
  overlaps.sort((a, b) => a.startMs - b.startMs);

  const interruptions: CallSummary['interruptions'] = [];
  for (const s of spans) {
    const talking = spans.find(
      (o) => o.speaker !== s.speaker && o.startMs < s.startMs && o.endMs > s.startMs,
    );
    if (talking) interruptions.push({ atMs: s.startMs, speaker: s.speaker, interrupted: talking.speaker });
  }
  interruptions.sort((a, b) => a.atMs - b.atMs);

  let longestSilenceMs = 0;
  let cursor = 0;
  for (const [start, end] of mergeIntervals(spans.map((s) => [s.startMs, s.endMs]))) {
    longestSilenceMs = Math.max(longestSilenceMs, start - cursor);
    cursor = Math.max(cursor, end);
  }
  longestSilenceMs = Math.max(longestSilenceMs, durationMs - cursor);
  return { talkTimeMs, overlaps, interruptions, longestSilenceMs };
}

function mergeIntervals(intervals: [number, number][]): [number, number][] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
