import type { FinalEvent } from '../asr/transcript-event.js';
import type { CallTranscript } from '../transcripts/call-transcript.js';
import type { AudioRedaction } from './audio-redaction.js';
import { PLACEHOLDER } from './find-entities.js';

const PLACEHOLDERS = new Set(Object.values(PLACEHOLDER));
const TRAILING_PUNCTUATION = /[.,;:!?]+$/;

/**
 * Masks the recording wherever the transcript was redacted: each accepted final's placeholder
 * words mask their times on the leg; a final whose text has a placeholder but whose words do not
 * say where masks the whole utterance. Finals that redaction holds back hold the leg's audio too.
 */
export function maskRedactedWords(
  transcript: CallTranscript,
  redaction: AudioRedaction,
  legs: readonly string[],
): void {
  for (const leg of legs) redaction.hold(leg, () => transcript.heldFromMs(leg));
  transcript.subscribe((event) => {
    if (event.type === 'final') maskFinal(event, redaction);
  });
}

function maskFinal(event: FinalEvent, redaction: AudioRedaction): void {
  if (!hasPlaceholder(event.text)) return;
  const words = event.words.filter((w) => PLACEHOLDERS.has(w.word.replace(TRAILING_PUNCTUATION, '')));
  if (words.length === 0) {
    redaction.mask(event.leg, event.startMs, event.endMs, 'transcript');
    return;
  }
  for (const word of words) redaction.mask(event.leg, word.startMs, word.endMs, 'transcript');
}

function hasPlaceholder(text: string): boolean {
  for (const token of text.split(/\s+/))
    if (PLACEHOLDERS.has(token.replace(TRAILING_PUNCTUATION, ''))) return true;
  return false;
}
