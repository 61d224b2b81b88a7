import { type ExportUtterance, oneLine } from './export-utterance.js';
import { cueTimestamp, subtitleCues } from './subtitle-cues.js';

/**
 * A transcript as WebVTT (https://www.w3.org/TR/webvtt1/): one cue per utterance (long ones split,
 * see subtitleCues), its text in a voice span naming the speaker, `<v caller>…</v>`, so players
 * and the console can show who speaks. Text is escaped, so nothing in it can open a tag or end a
 * cue: `&`, `<` and `>` become character references (which also rules out `-->`), and newlines
 * and blank lines fold into spaces before the text is wrapped.
 */
export function toWebVtt(utterances: readonly ExportUtterance[], options: { title?: string } = {}): string {
  const blocks = [header(options.title)];
  for (const cue of subtitleCues(utterances)) {
    const timing = `${cueTimestamp(cue.startMs, '.')} --> ${cueTimestamp(cue.endMs, '.')}`;
    const text = cue.lines.map(escapeText).join('\n');
    blocks.push(`${timing}\n<v ${escapeText(cue.voice)}>${text}</v>`);
  }
  return `${blocks.join('\n\n')}\n`;
}

// The signature line may carry text after a space, but no newline and no `-->` (it would read as a cue).
function header(title: string | undefined): string {
  const clean = oneLine(title ?? '').replace(/-{2,}>/g, '->');
  return clean ? `WEBVTT - ${clean}` : 'WEBVTT';
}

/** Cue text and voice annotations take `&amp;`, `&lt;` and `&gt;` for the characters they cannot hold. */
function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
