import { describe, expect, it } from 'vitest';
import type { SegmentDecision } from '../../../src/asr/vad/vad-segmenter.js';
import { VadSegmenter } from '../../../src/asr/vad/vad-segmenter.js';

const WINDOW_MS = 32;

/** Feeds one probability per 32 ms window; returns the decisions with their window index. */
function run(probabilities: number[], options = {}): [number, SegmentDecision][] {
  const segmenter = new VadSegmenter({
    threshold: 0.5,
    minSpeechMs: 96,
    minSilenceMs: 320,
    maxUtteranceMs: 60_000,
    ...options,
  });
  const out: [number, SegmentDecision][] = [];
  probabilities.forEach((p, i) => {
    const d = segmenter.update(p, i * WINDOW_MS, (i + 1) * WINDOW_MS);
    if (d) out.push([i, d]);
  });
  return out;
}

const silence = (n: number) => Array<number>(n).fill(0.02);
const speech = (n: number) => Array<number>(n).fill(0.9);

describe('VAD segmentation', () => {
  it('opens an utterance where speech began once it has lasted the minimum, and ends it after the hangover', () => {
    expect(run([...silence(5), ...speech(20), ...silence(15)])).toEqual([
      [7, { type: 'start', atMs: 5 * WINDOW_MS }],
      [34, { type: 'end', atMs: 25 * WINDOW_MS }],
    ]);
  });

  it('ignores a click shorter than the minimum speech', () => {
    expect(run([...silence(5), ...speech(2), ...silence(20)])).toEqual([]);
  });

  it('keeps the utterance through pauses shorter than the hangover and through uncertain windows', () => {
    const decisions = run([...speech(10), ...silence(5), 0.4, 0.4, ...speech(10), ...silence(12)]);
    expect(decisions.map(([, d]) => d.type)).toEqual(['start', 'end']);
  });

  it('cuts a monologue at the maximum length and carries straight on', () => {
    const decisions = run(speech(100), { maxUtteranceMs: 1_000 });
    expect(decisions.map(([, d]) => d)).toEqual([
      { type: 'start', atMs: 0 },
      { type: 'cut', atMs: 32 * WINDOW_MS },
      { type: 'cut', atMs: 64 * WINDOW_MS },
      { type: 'cut', atMs: 96 * WINDOW_MS },
    ]);
  });
});
