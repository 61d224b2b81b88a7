import { VoxlineError } from '../../errors.js';

/** A word with its times on the call clock, as the live and the refined transcripts carry them. */
export interface ExportWord {
  readonly word: string;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * One utterance as the exports read it: the live transcript's `snapshot().utterances` and the
 * refined transcript's utterances both fit. `subSpeaker` (a diarized voice inside the leg, e.g.
 * `caller.2`) names the voice where it is set; `words`, when they are the text's tokens, let long
 * utterances be split into subtitle-sized cues.
 */
export interface ExportUtterance {
  readonly speaker: string;
  readonly subSpeaker?: string | null;
  readonly text: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly words?: readonly ExportWord[];
}

export const TRANSCRIPT_FORMATS = ['json', 'txt', 'vtt', 'srt'] as const;
export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS)[number];

/** `?format=` as the client sent it: one of TRANSCRIPT_FORMATS exactly, or a 400. */
export function parseTranscriptFormat(value: unknown): TranscriptFormat {
  if (typeof value === 'string' && (TRANSCRIPT_FORMATS as readonly string[]).includes(value)) {
    return value as TranscriptFormat;
  }
  // Echo only a short prefix of what came: the value is the client's, of any length.
  const got = typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : typeof value;
  throw new VoxlineError(
    'VL_ERR_BAD_REQUEST',
    `format must be one of ${TRANSCRIPT_FORMATS.join(', ')} (got ${got})`,
  );
}

/** Who speaks, as every export names it: the diarized voice where there is one, else the leg. */
export function voiceOf(utterance: ExportUtterance): string {
  const name = oneLine(utterance.subSpeaker ?? '') || oneLine(utterance.speaker);
  return name || 'unknown';
}

// Control characters and lone surrogates (`u` makes \p{Cs} match only unpaired ones): no format wants them.
const CONTROL = /[\p{Cc}\p{Cs}]/gu;

/**
 * Text on one line: every run of whitespace (newlines, blank lines, tabs) one space, other control
 * characters and lone surrogates dropped.
 */
export function oneLine(text: string): string {
  return text
    .replace(CONTROL, (c) => (/[\s\u0085]/.test(c) ? ' ' : '')) // NEL (U+0085) ends a line too
    .replace(/\s+/g, ' ')
    .trim();
}
