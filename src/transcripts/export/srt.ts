import type { ExportUtterance } from './export-utterance.js';
import { cueTimestamp, subtitleCues, wrapLines } from './subtitle-cues.js';

/**
 * A transcript as SubRip: cues numbered from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, the text as
 * `speaker: text`, a blank line after each cue. Lines end in LF, which every current player and
 * editor reads (CRLF is the format's DOS heritage, not a rule). SRT has no escapes: text is kept as
 * said, except that a run of hyphens before `>` becomes `->`, so that no text line can be taken for
 * a timing line by parsers that look for `-->`; newlines and blank lines (which would end the cue)
 * fold into spaces.
 */
export function toSrt(utterances: readonly ExportUtterance[]): string {
  return subtitleCues(utterances)
    .map((cue, i) => {
      const timing = `${cueTimestamp(cue.startMs, ',')} --> ${cueTimestamp(cue.endMs, ',')}`;
      const text = wrapLines(`${cue.voice}: ${cue.lines.join(' ')}`.replace(/-{2,}>/g, '->'));
      return `${i + 1}\n${timing}\n${text.join('\n')}\n\n`;
    })
    .join('');
}
