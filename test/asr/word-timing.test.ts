import { describe, expect, it } from 'vitest';
import { STEP_MS, WordTimer } from '../../src/asr/word-timing.js';

describe('word times from the model step count', () => {
  it('places a word whose text first shows at step k at utterance start + k × 80 ms, empty steps counted', () => {
    const timer = new WordTimer(10_000);
    for (const delta of ['', '', '', ' Hello', '', '', '', '', ' wor', 'ld.', '']) timer.push(delta);
    expect(timer.steps).toBe(11);
    expect(timer.text).toBe(' Hello world.');
    expect(timer.words(10_000 + 11 * STEP_MS)).toEqual([
      { word: 'Hello', startMs: 10_240, endMs: 10_640 },
      { word: 'world.', startMs: 10_640, endMs: 10_880 },
    ]);
  });

  it('ends the last word at the end of speech, at most 1.2 s after its start', () => {
    const timer = new WordTimer(0);
    timer.push(' Long');
    expect(timer.words(5_000)).toEqual([{ word: 'Long', startMs: 0, endMs: 1_200 }]);
    expect(timer.words(0)).toEqual([{ word: 'Long', startMs: 0, endMs: STEP_MS }]);
  });

  it('splits a delta holding several words and places text that arrives without a step cadence', () => {
    const timer = new WordTimer(1_000);
    timer.addText(' one two', 1_500);
    timer.addText(' three', 2_000);
    expect(timer.words(2_400).map((w) => [w.word, w.startMs])).toEqual([
      ['one', 1_500],
      ['two', 1_500],
      ['three', 2_000],
    ]);
    expect(timer.audioMs).toBe(2_000);
  });
});
