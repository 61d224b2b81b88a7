import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/webhooks/call-summary.js';
import { demoCall } from '../helpers/media.js';

describe('call summary from the utterances', () => {
  it('on the support-call demo: talk time per speaker, the overlap at 19.8 s, who interrupted whom, the longest silence', () => {
    const call = demoCall('support-call');
    const spans = call.segments.map((s) => ({ speaker: s.leg, startMs: s.startMs, endMs: s.endMs }));
    const summary = summarize(spans, call.durationMs);
    const talk = (leg: string) =>
      call.segments.filter((s) => s.leg === leg).reduce((n, s) => n + s.endMs - s.startMs, 0);
    expect(summary.talkTimeMs).toEqual({ agent: talk('agent'), caller: talk('caller') });
    expect(summary.overlaps).toEqual([{ startMs: 19_800, endMs: 20_600, speakers: ['agent', 'caller'] }]);
    expect(summary.interruptions).toEqual([{ atMs: 19_800, speaker: 'agent', interrupted: 'caller' }]);
    // The longest silence, checked against a millisecond-by-millisecond scan.
    let longest = 0;
    let run = 0;
    for (let t = 0; t < call.durationMs; t++) {
      const speaking = spans.some((s) => s.startMs <= t && t < s.endMs);
      run = speaking ? 0 : run + 1;
      longest = Math.max(longest, run);
    }
    expect(summary.longestSilenceMs).toBe(longest);
  });

  it('counts overlapping utterances of one speaker once', () => {
    const s = summarize(
      [
        { speaker: 'a', startMs: 0, endMs: 1_000 },
        { speaker: 'a', startMs: 500, endMs: 1_500 },
      ],
      2_000,
    );
    expect(s.talkTimeMs).toEqual({ a: 1_500 });
    expect(s.overlaps).toEqual([]);
    expect(s.longestSilenceMs).toBe(500);
  });
});
