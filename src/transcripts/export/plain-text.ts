import { type ExportUtterance, oneLine, voiceOf } from './export-utterance.js';

/**
 * A transcript to read: one line per utterance in order of start, `[HH:MM:SS] speaker: text`
 * (time of its start on the call clock). Newlines inside the text fold into spaces, so a line is
 * always one utterance; utterances with no text are left out.
 */
export function toPlainText(utterances: readonly ExportUtterance[]): string {
  return utterances
    .map((u) => ({ u, text: oneLine(u.text) }))
    .filter(({ text }) => text)
    .sort((a, b) => startOf(a.u) - startOf(b.u))
    .map(({ u, text }) => `[${clockTime(startOf(u))}] ${voiceOf(u)}: ${text}\n`)
    .join('');
}

function startOf(utterance: ExportUtterance): number {
  return Number.isFinite(utterance.startMs) ? Math.max(0, utterance.startMs) : 0;
}

function clockTime(ms: number): string {
  const totalS = Math.floor(Math.min(ms, 1e15) / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(totalS / 3600))}:${pad(Math.floor(totalS / 60) % 60)}:${pad(totalS % 60)}`;
}
