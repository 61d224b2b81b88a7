import { type ExportUtterance, oneLine, voiceOf } from './export-utterance.js';

/** One subtitle on the screen: who, when (call-clock ms, end after start) and its lines. */
export interface SubtitleCue {
  readonly voice: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly lines: readonly string[];
}

/** Subtitle norms (BBC, Netflix): about 42 characters a line, 2 lines, 7 seconds a cue. */
export const MAX_LINE_CHARS = 42;
export const MAX_LINES = 2;
export const MAX_CUE_MS = 7000;
/** An utterance of no length (an engine's zero-width final) still stays on screen this long. */
export const MIN_CUE_MS = 1000;

/**
 * The cues of a transcript, sorted by start (stably: equal starts keep their order). An utterance
 * with no text after cleaning gives none. One longer than MAX_CUE_MS or MAX_LINES lines is split
 * at word boundaries, by the word times, when its words are its text's tokens (every engine's are;
 * otherwise the times would belong to other text, and it stays one cue).
 */
export function subtitleCues(utterances: readonly ExportUtterance[]): SubtitleCue[] {
  const cues: SubtitleCue[] = [];
  for (const utterance of utterances) cues.push(...cuesOf(utterance));
  return cues.sort((a, b) => a.startMs - b.startMs);
}

function cuesOf(utterance: ExportUtterance): SubtitleCue[] {
  const text = oneLine(utterance.text);
  if (!text) return [];
  const voice = voiceOf(utterance);
  const startMs = toMs(utterance.startMs);
  const endMs = Math.max(toMs(utterance.endMs), startMs + MIN_CUE_MS);
  const tokens = text.split(' ');
  const words = utterance.words;
  const fits = endMs - startMs <= MAX_CUE_MS && wrapLines(text).length <= MAX_LINES;
  if (fits || !words || words.length !== tokens.length) {
    return [{ voice, startMs, endMs, lines: wrapLines(text) }];
  }
  // Word times are approximate: keep them inside the utterance so a cue never leaves it.
  const within = (ms: number) => Math.min(Math.max(toMs(ms), startMs), endMs);
  const groups: { from: number; to: number; startMs: number }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const group = groups.at(-1);
    const wordEnd = within(words[i].endMs);
    if (
      group &&
      wordEnd - group.startMs <= MAX_CUE_MS &&
      wrapLines(tokens.slice(group.from, i + 1).join(' ')).length <= MAX_LINES
    ) {
      group.to = i;
    } else {
      groups.push({ from: i, to: i, startMs: group ? within(words[i].startMs) : startMs });
    }
  }
  return groups.map((group, g) => {
    const last = g === groups.length - 1;
    const cueEnd = last ? endMs : within(words[group.to].endMs);
    return {
      voice,
      startMs: group.startMs,
      endMs: Math.max(cueEnd, group.startMs + MIN_CUE_MS),
      lines: wrapLines(tokens.slice(group.from, group.to + 1).join(' ')),
    };
  });
}

/** One-line text broken greedily at spaces into lines of at most MAX_LINE_CHARS (a longer word stands alone). */
export function wrapLines(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const token of text.split(' ')) {
    if (line && line.length + 1 + token.length > MAX_LINE_CHARS) {
      lines.push(line);
      line = token;
    } else line = line ? `${line} ${token}` : token;
  }
  if (line) lines.push(line);
  return lines;
}

/** Past any real call (about 31,000 years), and below where numbers would print in exponent form. */
const LATEST_MS = 1e15;

/** Whole milliseconds in [0, LATEST_MS]: a negative or non-finite time (a bad clock) is the call's start. */
function toMs(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(0, Math.round(ms)), LATEST_MS) : 0;
}

/** `HH:MM:SS<sep>mmm`: hours take as many digits as they need (both formats allow it). */
export function cueTimestamp(ms: number, separator: '.' | ','): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor(ms / 60_000) % 60;
  const seconds = Math.floor(ms / 1000) % 60;
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}${separator}${pad(ms % 1000, 3)}`;
}
