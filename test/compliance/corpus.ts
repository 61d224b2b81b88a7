import { readFileSync } from 'node:fs';
import type { FinalEvent, TranscriptEvent } from '../../src/asr/transcript-event.js';
import { ENTITY_KINDS } from '../../src/compliance/find-entities.js';
import { TranscriptRedactor } from '../../src/compliance/transcript-redactor.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** A corpus under test/fixtures/redaction/: what must go and what must stay. */
export interface Corpus {
  readonly positives: readonly {
    readonly text?: string;
    readonly utterances?: readonly { readonly leg: string; readonly text: string }[];
    readonly secrets: readonly string[];
  }[];
  readonly negatives: readonly string[];
}

/** `corpus.json` (written with the code) or `heldout.json` (written blind to it). */
export function loadCorpus(name: 'corpus' | 'heldout'): Corpus {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/redaction/${name}.json`, import.meta.url), 'utf8'),
  ) as Corpus;
}

const WORD_MS = 300;
const POLICY = { kinds: new Set(ENTITY_KINDS), holdMs: 2000 };

function finalOf(leg: string, utteranceId: number, text: string, startMs: number): FinalEvent {
  const tokens = text.split(/\s+/).filter(Boolean);
  return {
    type: 'final',
    leg,
    utteranceId,
    text,
    startMs,
    endMs: startMs + tokens.length * WORD_MS,
    words: tokens.map((word, i) => ({
      word,
      startMs: startMs + i * WORD_MS,
      endMs: startMs + (i + 1) * WORD_MS,
    })),
    recovered: false,
    engine: 'corpus',
  };
}

export interface Played {
  /** Everything the redactor let out: partial texts, final texts and words. */
  readonly out: string[];
  /** The finals' texts, in order. */
  readonly finals: string[];
  /** For each word of each utterance: ms from when it was spoken to when it was first shown. */
  readonly delaysMs: number[];
}

/**
 * Plays utterances through a TranscriptRedactor as an engine would: a partial after every word
 * (WORD_MS apart), then the final, on a manual clock, then the end of the call.
 */
export async function play(utterances: readonly { leg: string; text: string }[]): Promise<Played> {
  const clock = new ManualClock();
  const out: string[] = [];
  const finals: string[] = [];
  const delaysMs: number[] = [];
  let pending: { tokens: string[]; spokenAt: number[]; shown: boolean[] } | undefined;
  const note = (text: string) => {
    if (!pending) return;
    const shown = text.split(/\s+/).filter(Boolean);
    // Words shown in the order they were said: the first k shown are the first k said.
    for (let i = 0; i < shown.length && i < pending.tokens.length; i++) {
      if (!pending.shown[i] && shown[i] === pending.tokens[i]) {
        pending.shown[i] = true;
        delaysMs.push(clock.now() - pending.spokenAt[i]);
      }
    }
  };
  const redactor = new TranscriptRedactor(
    POLICY,
    (event: TranscriptEvent) => {
      if (event.type === 'error') return;
      out.push(event.text);
      note(event.text);
      if (event.type === 'final') {
        finals.push(event.text);
        out.push(...event.words.map((w) => w.word));
      }
    },
    clock,
  );
  let at = 0;
  let id = 0;
  for (const { leg, text } of utterances) {
    const tokens = text.split(/\s+/).filter(Boolean);
    const startMs = at;
    id++;
    pending = {
      tokens,
      spokenAt: tokens.map((_, i) => startMs + (i + 1) * WORD_MS),
      shown: tokens.map(() => false),
    };
    for (let i = 1; i <= tokens.length; i++) {
      await clock.advance(WORD_MS);
      redactor.push({
        type: 'partial',
        leg,
        utteranceId: id,
        text: tokens.slice(0, i).join(' '),
        startMs,
        audioMs: clock.now(),
      });
    }
    redactor.push(finalOf(leg, id, text, startMs));
    at = clock.now() + 500;
    await clock.advance(500);
  }
  await clock.advance(POLICY.holdMs);
  redactor.flush();
  return { out, finals, delaysMs };
}

export interface CorpusRates {
  readonly positives: number;
  /** Positives where a secret survived somewhere in what went out. */
  readonly leaked: string[];
  readonly negatives: number;
  /** Negatives that did not come out unchanged. */
  readonly changed: string[];
  /** Delay each word of a negative was shown with (the held-back partials and finals). */
  readonly delayP50Ms: number;
  readonly delayP95Ms: number;
  readonly delayMaxMs: number;
}

export async function measureCorpus(corpus: Corpus): Promise<CorpusRates> {
  const leaked: string[] = [];
  for (const item of corpus.positives) {
    const utterances = item.utterances ?? [{ leg: 'caller', text: item.text ?? '' }];
    const { out } = await play(utterances);
    const all = out.join('\n').toLowerCase();
    if (item.secrets.some((secret) => all.includes(secret.toLowerCase()))) {
      leaked.push(utterances.map((u) => u.text).join(' | '));
    }
  }
  const changed: string[] = [];
  const delays: number[] = [];
  for (const text of corpus.negatives) {
    const { finals, delaysMs } = await play([{ leg: 'caller', text }]);
    if (finals.join(' ') !== text) changed.push(`${text} → ${finals.join(' ')}`);
    delays.push(...delaysMs);
  }
  delays.sort((a, b) => a - b);
  const pick = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0;
  return {
    positives: corpus.positives.length,
    leaked,
    negatives: corpus.negatives.length,
    changed,
    delayP50Ms: pick(0.5),
    delayP95Ms: pick(0.95),
    delayMaxMs: delays.at(-1) ?? 0,
  };
}
