import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type VttCue, type VttNode, WebVTTParser } from 'webvtt-parser';
import { isVoxlineError } from '../../src/errors.js';
import {
  type ExportUtterance,
  parseTranscriptFormat,
} from '../../src/transcripts/export/export-utterance.js';
import { toPlainText } from '../../src/transcripts/export/plain-text.js';
import { toSrt } from '../../src/transcripts/export/srt.js';
import { exportTranscript } from '../../src/transcripts/export/transcript-export.js';
import { toWebVtt } from '../../src/transcripts/export/webvtt.js';

// With every named reference the spec knows: the parser's small default set mis-decodes `&amp;`.
const parser = new WebVTTParser(createRequire(import.meta.url)('webvtt-parser/html-entities.json'));

/** Parses as a player would, failing on any error the validator reports (cue text included). */
function parseVtt(vtt: string): VttCue[] {
  const { cues, errors } = parser.parse(vtt);
  expect(errors).toEqual([]);
  return cues;
}

function textOf(node: VttNode): string {
  if (node.type === 'text') return node.value ?? '';
  return (node.children ?? []).map(textOf).join('');
}

/** A cue's one voice span: its voice and its text as displayed (lines joined by a space). */
function voiceSpan(cue: VttCue): { voice: string | undefined; text: string } {
  expect(cue.tree.children).toHaveLength(1);
  const span = cue.tree.children[0];
  expect(span.name).toBe('v');
  return { voice: span.value, text: textOf(span).replace(/\n/g, ' ') };
}

const utterance = (
  speaker: string,
  text: string,
  startMs: number,
  endMs: number,
  more: Partial<ExportUtterance> = {},
): ExportUtterance => ({ speaker, text, startMs, endMs, ...more });

interface SrtCue {
  startMs: number;
  endMs: number;
  lines: string[];
}

const SRT_TIMING = /^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$/;
const msOf = (h: string, m: string, s: string, ms: string) =>
  ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms);

/**
 * SubRip's rules, checked independently of the writer: blocks separated by one blank line, each a
 * counter (1, 2, 3, …), a `HH:MM:SS,mmm --> HH:MM:SS,mmm` line whose end is after its start and
 * whose start is not before the previous cue's, then one or more non-blank text lines, none of
 * which a reader could take for a timing line.
 */
function checkSrt(srt: string): SrtCue[] {
  if (srt === '') return [];
  expect(srt).not.toMatch(/\r/);
  expect(srt.endsWith('\n\n')).toBe(true);
  const cues: SrtCue[] = [];
  for (const [i, block] of srt.slice(0, -2).split('\n\n').entries()) {
    const [counter, timing, ...lines] = block.split('\n');
    expect(counter).toBe(String(i + 1));
    const match = SRT_TIMING.exec(timing ?? '');
    expect(match, `cue ${i + 1} timing: ${timing}`).not.toBeNull();
    const [, h1, m1, s1, ms1, h2, m2, s2, ms2] = match!;
    const cue = { startMs: msOf(h1, m1, s1, ms1), endMs: msOf(h2, m2, s2, ms2), lines };
    expect(cue.endMs).toBeGreaterThan(cue.startMs);
    if (cues.length > 0) expect(cue.startMs).toBeGreaterThanOrEqual(cues[cues.length - 1].startMs);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line.trim()).not.toBe('');
      expect(line).not.toContain('-->');
    }
    cues.push(cue);
  }
  return cues;
}

const call: ExportUtterance[] = [
  utterance('caller', 'Hi, I would like to cancel my account.', 1200, 3400),
  utterance('agent', 'Sorry to hear that. Can I ask why?', 3900, 6100),
];

describe('WebVTT export', () => {
  it('parses cleanly, one cue per utterance, with its times and a voice span naming the speaker', () => {
    const vtt = toWebVtt(call);
    expect(vtt.startsWith('WEBVTT\n\n')).toBe(true);
    const cues = parseVtt(vtt);
    expect(cues.map((c) => [c.startTime, c.endTime])).toEqual([
      [1.2, 3.4],
      [3.9, 6.1],
    ]);
    expect(cues.map(voiceSpan)).toEqual([
      { voice: 'caller', text: 'Hi, I would like to cancel my account.' },
      { voice: 'agent', text: 'Sorry to hear that. Can I ask why?' },
    ]);
    expect(vtt).toContain(
      '00:00:01.200 --> 00:00:03.400\n<v caller>Hi, I would like to cancel my account.</v>',
    );
  });

  it('names the diarized voice when there is one, and keeps the leg when there is not', () => {
    const cues = parseVtt(
      toWebVtt([
        utterance('caller', 'I am on speaker', 0, 1500, { subSpeaker: 'caller.1' }),
        utterance('caller', 'me too', 1600, 2500, { subSpeaker: 'caller.2' }),
        utterance('agent', 'hello both', 2600, 3500, { subSpeaker: null }),
      ]),
    );
    expect(cues.map((c) => voiceSpan(c).voice)).toEqual(['caller.1', 'caller.2', 'agent']);
  });

  it('sorts cues by start, keeping the given order of equal starts', () => {
    const vtt = toWebVtt([
      utterance('agent', 'second', 5000, 6000),
      utterance('caller', 'first', 1000, 2000),
      utterance('caller', 'third a', 5000, 6000),
    ]);
    expect([...vtt.matchAll(/<v [^>]+>([^<]*)<\/v>/g)].map((m) => m[1])).toEqual([
      'first',
      'second',
      'third a',
    ]);
    parseVtt(vtt);
  });

  it('gives zero- and negative-length utterances a minimum duration, and clamps negative times to 0', () => {
    const cues = parseVtt(
      toWebVtt([
        utterance('caller', 'zero', 2000, 2000),
        utterance('agent', 'backwards', 5000, 4000),
        utterance('caller', 'before the call', -300, -100),
      ]),
    );
    expect(cues.map((c) => [c.startTime, c.endTime])).toEqual([
      [0, 1],
      [2, 3],
      [5, 6],
    ]);
  });

  it('keeps hostile text as text: tags, arrows, entities, blank lines, controls and a 10-hour call', () => {
    const tenHours = 10 * 3600_000;
    const hostile = [
      utterance('caller', 'a --> b', 0, 1000),
      utterance('caller', '<script>alert("x")</script>', 1000, 2000),
      utterance('agent', 'one\n\ntwo\r\n\r\n  three', 2000, 3000),
      utterance('agent', '&amp; & &lt; ; <v agent>', 3000, 4000),
      utterance('caller', '00:00:05.000 --> 00:00:06.000', 4000, 5000),
      utterance('caller', 'NOTE\nWEBVTT\nSTYLE', 5000, 6000),
      utterance('caller', 'こんにちは 👋🏽 مرحبا e\u0301', 6000, 7000),
      utterance('caller', 'nul\u0000here\u0007 \ud800lone', 7000, 8000),
      utterance('caller', 'still talking', tenHours + 1234, tenHours + 6234),
    ];
    const vtt = toWebVtt(hostile);
    const cues = parseVtt(vtt);
    expect(cues.map((c) => voiceSpan(c).text)).toEqual([
      'a --> b',
      '<script>alert("x")</script>',
      'one two three',
      '&amp; & &lt; ; <v agent>',
      '00:00:05.000 --> 00:00:06.000',
      'NOTE WEBVTT STYLE',
      'こんにちは 👋🏽 مرحبا e\u0301',
      'nulhere lone',
      'still talking',
    ]);
    expect(cues.at(-1)).toMatchObject({ startTime: 36001.234, endTime: 36006.234 });
    expect(vtt).toContain('10:00:01.234 --> 10:00:06.234');
    // `-->` is only ever a timing line's, and nothing opens a tag but the voice spans.
    expect(vtt.split('\n').filter((line) => line.includes('-->'))).toHaveLength(cues.length);
    expect(vtt).not.toContain('<script>');
  });

  it('escapes a hostile speaker label and title, and drops utterances with no text', () => {
    const vtt = toWebVtt(
      [
        utterance('caller>x &y', 'hello', 0, 1000),
        utterance('agent', ' \n\n\t ', 1000, 2000),
        utterance('  ', 'nobody', 2000, 3000),
      ],
      { title: 'CA123 --> \n\n00:00:00.000 --> 00:00:01.000' },
    );
    const cues = parseVtt(vtt);
    expect(cues).toHaveLength(2);
    expect(vtt.split('\n')[0]).toBe('WEBVTT - CA123 -> 00:00:00.000 -> 00:00:01.000');
    // Written as character references (the spec's way; this parser leaves annotations undecoded).
    expect(voiceSpan(cues[0]).voice).toBe('caller&gt;x &amp;y');
    expect(voiceSpan(cues[1]).voice).toBe('unknown');
  });

  it('splits a long utterance into cues of at most 7 s and 2 lines, by its word times', () => {
    const tokens =
      'so what happened was I called last week about the bill and nobody ever called me back which is why I am calling again today'.split(
        ' ',
      );
    const words = tokens.map((word, i) => ({
      word,
      startMs: 10_000 + i * 600,
      endMs: 10_000 + i * 600 + 450,
    }));
    const long = utterance('caller', tokens.join(' '), 10_000, words.at(-1)!.endMs, { words });
    const cues = parseVtt(toWebVtt([long]));
    expect(cues.length).toBeGreaterThan(2);
    expect(cues.map((c) => voiceSpan(c).text).join(' ')).toBe(long.text);
    expect(cues[0].startTime).toBe(10);
    expect(cues.at(-1)!.endTime).toBe(long.endMs / 1000);
    let next = 0; // index of the cue's first word
    for (const [i, cue] of cues.entries()) {
      expect(cue.endTime - cue.startTime).toBeLessThanOrEqual(7);
      const lines = textOf(cue.tree.children[0]).split('\n');
      expect(lines.length).toBeLessThanOrEqual(2);
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(42);
      // A later cue starts as its first word does.
      if (i > 0) expect(cue.startTime).toBe(words[next].startMs / 1000);
      next += voiceSpan(cue).text.split(' ').length;
    }
  });

  it('keeps a long utterance whole without word times, or when its words are not its text', () => {
    const text = 'word '.repeat(40).trim();
    const noWords = utterance('caller', text, 0, 20_000);
    const otherWords = utterance('caller', text, 30_000, 50_000, {
      words: [{ word: 'redacted', startMs: 30_000, endMs: 50_000 }],
    });
    const cues = parseVtt(toWebVtt([noWords, otherWords]));
    expect(cues.map((c) => [c.startTime, c.endTime])).toEqual([
      [0, 20],
      [30, 50],
    ]);
  });
});

describe('SRT export', () => {
  it('numbers cues from 1, with comma timestamps and `speaker: text`', () => {
    const srt = toSrt(call);
    expect(srt).toBe(
      // Wrapped at 42 characters a line, as subtitles are.
      '1\n00:00:01,200 --> 00:00:03,400\ncaller: Hi, I would like to cancel my\naccount.\n\n' +
        '2\n00:00:03,900 --> 00:00:06,100\nagent: Sorry to hear that. Can I ask why?\n\n',
    );
    expect(checkSrt(srt)).toHaveLength(2);
  });

  it('follows the rules with hostile text, no text, bad times and a 10-hour call', () => {
    const srt = toSrt([
      utterance('caller', 'a --> b', 0, 0),
      utterance('caller', 'one\n\n2\n00:00:01,000 --> 00:00:02,000\nthree', 500, 400),
      utterance('agent', '   ', 600, 900),
      utterance('agent', 'late', 36_000_000, 36_001_500, { subSpeaker: 'agent.1' }),
      utterance('agent', 'nan', Number.NaN, Number.POSITIVE_INFINITY),
    ]);
    const cues = checkSrt(srt);
    // Both start at 0 (a time that is not a number is the call's start): they keep the given order.
    expect(cues.map((c) => c.lines.join(' '))).toEqual([
      'caller: a -> b',
      'agent: nan',
      'caller: one 2 00:00:01,000 -> 00:00:02,000 three',
      'agent.1: late',
    ]);
    expect(cues.at(-1)).toEqual({ startMs: 36_000_000, endMs: 36_001_500, lines: ['agent.1: late'] });
  });

  it('writes nothing for a transcript with no words', () => {
    expect(toSrt([])).toBe('');
    expect(toSrt([utterance('caller', '\n', 0, 10)])).toBe('');
  });
});

describe('plain-text export', () => {
  it('writes `[HH:MM:SS] speaker: text` lines in order of start, one line per utterance', () => {
    expect(
      toPlainText([
        utterance('agent', 'Sorry to\nhear that.', 62_900, 64_000),
        utterance('caller', 'Cancel it.', 1500, 2000, { subSpeaker: 'caller.2' }),
        utterance('caller', '', 3000, 4000),
        utterance('caller', 'Still here?', 10 * 3600_000 + 5_000, 10 * 3600_000 + 6_000),
      ]),
    ).toBe(
      '[00:00:01] caller.2: Cancel it.\n[00:01:02] agent: Sorry to hear that.\n[10:00:05] caller: Still here?\n',
    );
  });
});

describe('exportTranscript and ?format=', () => {
  const meta = { callSid: 'CA0123', version: 'refined' } as const;

  it('answers each format with its media type', () => {
    expect(exportTranscript('vtt', call, meta).contentType).toBe('text/vtt; charset=utf-8');
    expect(exportTranscript('srt', call, meta).contentType).toBe('application/x-subrip; charset=utf-8');
    expect(exportTranscript('txt', call, meta).contentType).toBe('text/plain; charset=utf-8');
    expect(exportTranscript('json', call, meta).contentType).toBe('application/json');
    const vtt = exportTranscript('vtt', call, meta).body;
    expect(vtt.split('\n')[0]).toBe('WEBVTT - CA0123 (refined)');
    expect(parseVtt(vtt)).toHaveLength(2);
    expect(exportTranscript('srt', call, meta).body).toBe(toSrt(call));
    expect(exportTranscript('txt', call, meta).body).toBe(toPlainText(call));
  });

  it('puts the call, the version and the utterances in the JSON', () => {
    expect(JSON.parse(exportTranscript('json', call, meta).body)).toEqual({
      callSid: 'CA0123',
      version: 'refined',
      utterances: call,
    });
  });

  it('takes exactly json, txt, vtt or srt and answers anything else with a 400', () => {
    for (const format of ['json', 'txt', 'vtt', 'srt']) expect(parseTranscriptFormat(format)).toBe(format);
    for (const bad of ['VTT', 'pdf', '', ' vtt', undefined, 3, ['vtt'], 'x'.repeat(10_000)]) {
      let thrown: unknown;
      try {
        parseTranscriptFormat(bad);
      } catch (err) {
        thrown = err;
      }
      expect(isVoxlineError(thrown, 'VL_ERR_BAD_REQUEST')).toBe(true);
      expect((thrown as Error).message.length).toBeLessThan(200);
    }
  });
});

describe('any transcript', () => {
  /** A fixed seed: the same inputs every run (a failure prints its path to replay it). */
  const SEED = 18;
  const time = fc.oneof(
    fc.integer({ min: -5000, max: 40 * 3600_000 }),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e20, 0.4),
  );
  const hostileText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({
      unit: fc.constantFrom(
        '-->',
        '<',
        '>',
        '&',
        '&amp;',
        '\n',
        '\r\n',
        '\r',
        ' ',
        '\t',
        'a',
        'v',
        'NOTE',
        '\u0000',
        '😀',
        'é',
        '-',
      ),
      maxLength: 24,
    }),
  );
  const label = fc.oneof(fc.constantFrom('caller', 'agent', 'caller.2'), fc.string({ maxLength: 12 }));
  const utterances = fc.array(
    fc.record({
      speaker: label,
      subSpeaker: fc.option(label),
      text: hostileText,
      startMs: time,
      endMs: time,
    }),
    { maxLength: 12 },
  );
  // Text a player would show something for: anything but whitespace, controls and lone surrogates.
  const shown = (u: ExportUtterance) => /[^\s\p{Cc}\p{Cs}]/u.test(u.text);

  it('always gives WebVTT that parses without errors, one cue per utterance with text', () => {
    fc.assert(
      fc.property(utterances, (list) => {
        const cues = parseVtt(toWebVtt(list));
        expect(cues).toHaveLength(list.filter(shown).length);
        for (const cue of cues) expect(cue.endTime).toBeGreaterThan(cue.startTime);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('always gives SRT that follows the rules, one cue per utterance with text', () => {
    fc.assert(
      fc.property(utterances, (list) => {
        expect(checkSrt(toSrt(list))).toHaveLength(list.filter(shown).length);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('splits any worded utterance into valid cues of at most 7 s and 2 lines that keep its text', () => {
    const worded = fc
      .record({
        start: fc.integer({ min: 0, max: 3600_000 }),
        words: fc.array(
          fc.record({
            word: fc.stringMatching(/^[a-zA-Z'&<>-]{1,12}$/),
            gap: fc.integer({ min: 0, max: 2000 }),
            length: fc.integer({ min: 0, max: 3000 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
      })
      .map(({ start, words }) => {
        let at = start;
        const timed = words.map(({ word, gap, length }) => {
          const w = { word, startMs: at + gap, endMs: at + gap + length };
          at = w.endMs;
          return w;
        });
        const text = words.map((w) => w.word).join(' ');
        return utterance('caller', text, timed[0].startMs, at, { words: timed });
      });
    fc.assert(
      fc.property(worded, (u) => {
        const cues = parseVtt(toWebVtt([u]));
        expect(cues.map((c) => voiceSpan(c).text).join(' ')).toBe(u.text);
        for (const cue of cues) {
          expect(cue.endTime - cue.startTime).toBeLessThanOrEqual(7);
          expect(textOf(cue.tree.children[0]).split('\n').length).toBeLessThanOrEqual(2);
        }
        checkSrt(toSrt([u]));
      }),
      { numRuns: 200, seed: SEED },
    );
  });
});
