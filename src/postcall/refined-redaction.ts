import type { FinalEvent, TranscriptEvent } from '../asr/transcript-event.js';
import type { Clock, TimerHandle } from '../clock.js';
import { type RedactionPolicy, TranscriptRedactor } from '../compliance/transcript-redactor.js';
import type { RefinedUtterance } from './refined-transcript.js';

/** Timers that never fire: the whole transcript is known, so every hold ends at the flush. */
const NO_TIMERS: Clock = {
  now: () => 0,
  wallNow: () => 0,
  setTimeout: () => ({ unref: () => undefined }) as TimerHandle,
  setInterval: () => ({ unref: () => undefined }) as TimerHandle,
  clearTimeout: () => undefined,
  clearInterval: () => undefined,
};

/**
 * The refined transcript redacted as the live one is, by the same redactor: each utterance a
 * final of its speaker in call order, so a card number read across two utterances, or a CVV
 * after a card, is found the same way; text and words get the same placeholders.
 */
export function redactRefined(
  utterances: readonly RefinedUtterance[],
  policy: RedactionPolicy,
): RefinedUtterance[] {
  const out: RefinedUtterance[] = [];
  const redactor = new TranscriptRedactor(
    policy,
    (event: TranscriptEvent) => {
      if (event.type !== 'final') return;
      const source = utterances[event.utteranceId] as RefinedUtterance;
      out.push({ ...source, text: event.text, words: event.words.map((w) => ({ ...w })) });
    },
    NO_TIMERS,
  );
  utterances.forEach((u, i) => {
    const final: FinalEvent = {
      type: 'final',
      // The channel, not the diarized voice: a number read across two utterances is joined even
      // where the engine gave its halves to two voices.
      leg: u.speaker,
      utteranceId: i,
      text: u.text,
      startMs: u.startMs,
      endMs: u.endMs,
      words: u.words,
      recovered: false,
      engine: 'postcall',
    };
    redactor.push(final);
  });
  redactor.flush();
  return out.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
}
