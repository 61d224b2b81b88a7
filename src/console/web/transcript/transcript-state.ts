import type { ErrorEvent, FinalEvent, PartialEvent, TranscriptEvent } from '../types.js';

/** Bounds what a page keeps for one call, however long it runs. */
const MAX_FINALS = 5_000;
const MAX_ERRORS = 200;

/** A call's transcript as the page knows it: finals on the call clock, each leg's partial, errors. */
export interface TranscriptState {
  readonly finals: readonly FinalEvent[];
  readonly partials: Readonly<Record<string, PartialEvent>>;
  readonly errors: readonly ErrorEvent[];
  /** The highest event number applied: events are replayed on reconnect and skipped here. */
  readonly lastSeq: number;
  readonly ended: boolean;
}

export const EMPTY_TRANSCRIPT: TranscriptState = {
  finals: [],
  partials: {},
  errors: [],
  lastSeq: 0,
  ended: false,
};

/**
 * One event in. A final replaces its leg's partial (the greyed text turns into the final one);
 * finals stay sorted by their start on the call clock, as legs finish out of order.
 */
export function applyEvent(state: TranscriptState, event: TranscriptEvent): TranscriptState {
  if (event.seq <= state.lastSeq) return state;
  const lastSeq = event.seq;
  if (event.type === 'partial') {
    return { ...state, lastSeq, partials: { ...state.partials, [event.leg]: event } };
  }
  if (event.type === 'error') {
    return { ...state, lastSeq, errors: [...state.errors, event].slice(-MAX_ERRORS) };
  }
  const partials = { ...state.partials };
  const current = partials[event.leg];
  if (current && current.utteranceId <= event.utteranceId) delete partials[event.leg];
  const finals = [...state.finals];
  let i = finals.length;
  while (i > 0 && finals[i - 1].startMs > event.startMs) i--;
  finals.splice(i, 0, event);
  return { ...state, lastSeq, partials, finals: finals.slice(-MAX_FINALS) };
}

export function endTranscript(state: TranscriptState): TranscriptState {
  return { ...state, ended: true, partials: {} };
}

/** Seconds each speaker talked: the sum of their utterances' spans. */
export function talkTime(finals: readonly FinalEvent[]): { speaker: string; ms: number }[] {
  const totals = new Map<string, number>();
  for (const f of finals) totals.set(f.leg, (totals.get(f.leg) ?? 0) + Math.max(0, f.endMs - f.startMs));
  return [...totals].map(([speaker, ms]) => ({ speaker, ms }));
}

/** The word being spoken at `ms` (for the playhead highlight), as "seq:index", or undefined. */
export function wordAt(finals: readonly FinalEvent[], ms: number): string | undefined {
  for (const f of finals) {
    if (ms < f.startMs || ms >= f.endMs + 250) continue;
    const index = f.words.findIndex((w) => ms >= w.startMs && ms < w.endMs);
    if (index >= 0) return `${f.seq}:${index}`;
  }
  return undefined;
}
