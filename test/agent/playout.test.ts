import { describe, expect, it } from 'vitest';
import { Playout } from '../../src/agent/playout.js';
import { Downsampler16to8 } from '../../src/audio/downsampler.js';
import type { MarkResult, OutboundAudio } from '../../src/carriers/carrier.js';
import { TwilioPlayback } from '../../src/simulator/twilio-playback.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * The outbound-audio port wired straight to the simulator's Twilio playback (real-time play, marks
 * echoed when played, all pending marks echoed at once on clear), as the Twilio edge would be.
 */
function twilioLikeCarrier(clock: ManualClock) {
  const pending = new Map<string, (result: MarkResult) => void>();
  let cleared = new Set<string>();
  const playback = new TwilioPlayback((name) => {
    pending.get(name)?.({ name, cleared: cleared.has(name) });
    pending.delete(name);
  }, clock);
  const downsampler = new Downsampler16to8();
  const sent: { atMs: number; samples: number }[] = [];
  const outbound: OutboundAudio = {
    sendPcm(pcm) {
      sent.push({ atMs: clock.now(), samples: pcm.length });
      const payload = Buffer.from(downsampler.pushPcmToMulaw(pcm)).toString('base64');
      playback.receive(JSON.stringify({ event: 'media', media: { payload } }));
    },
    mark(name) {
      return new Promise((resolve) => {
        pending.set(name, resolve);
        playback.receive(JSON.stringify({ event: 'mark', mark: { name } }));
      });
    },
    clear() {
      cleared = new Set(pending.keys());
      playback.receive(JSON.stringify({ event: 'clear' }));
    },
  };
  return { outbound, sent, playback };
}

const speech = (ms: number) => new Int16Array(ms * 16).fill(1000);

describe('Playout: one agent reply into a call', () => {
  it('paces audio at real time with a small lead, a mark after each 100 ms chunk, all heard', async () => {
    const clock = new ManualClock();
    const { outbound, sent, playback } = twilioLikeCarrier(clock);
    const playout = new Playout(outbound, 'r1', {
      chunkMs: 100,
      leadMs: 200,
      clock: () => clock.now(),
      timers: clock,
    });
    playout.append('Hello there.', speech(600));
    playout.append('How are you today?', speech(900));
    playout.finish();
    const done = playout.done();
    // The lead goes at once (three chunks: 0, 100 and 200 ms of audio); then one chunk per 100 ms.
    expect(sent.map((s) => s.atMs)).toEqual([0, 0, 0]);
    await clock.advance(1_500);
    const spoken = await done;
    expect(sent.map((s) => s.samples)).toEqual([...Array(15)].map(() => 1600));
    expect(sent.map((s) => s.atMs)).toEqual([0, 0, 0, ...[...Array(12)].map((_, i) => (i + 1) * 100)]);
    // The last chunk cannot leave before (1.5 s − lead − one chunk) has passed.
    expect(sent[14].atMs - sent[0].atMs).toBeGreaterThan(1_100);
    expect(playback.summary().marks).toHaveLength(15);
    expect(spoken).toMatchObject({
      text: 'Hello there. How are you today?',
      interrupted: false,
      heardMs: 1500,
    });
    expect(spoken.words.map((w) => w.word)).toEqual(['Hello', 'there.', 'How', 'are', 'you', 'today?']);
    expect(spoken.endMs - spoken.startMs).toBeGreaterThanOrEqual(1_490);
    playback.end();
  });

  it('on interrupt sends clear, and the text is cut to what the marks say was heard', async () => {
    const clock = new ManualClock();
    const { outbound, playback } = twilioLikeCarrier(clock);
    const playout = new Playout(outbound, 'r2', { chunkMs: 100, leadMs: 200, clock: () => 0, timers: clock });
    playout.append('One two three four five six seven eight nine ten.', speech(2_000));
    playout.finish();
    await clock.advance(650);
    playout.interrupt();
    const spoken = await playout.done();
    expect(playback.summary().clears).toBe(1);
    expect(spoken.interrupted).toBe(true);
    expect(spoken.heardMs).toBeGreaterThanOrEqual(500);
    expect(spoken.heardMs).toBeLessThanOrEqual(700);
    expect(spoken.sentMs).toBeGreaterThan(spoken.heardMs); // the lead that the clear dropped
    expect(spoken.text).toMatch(/^One two three( four)?$/);
    playback.end();
  });

  it('resumes after running dry without sending ahead of real time', async () => {
    const clock = new ManualClock();
    const { outbound, sent, playback } = twilioLikeCarrier(clock);
    const playout = new Playout(outbound, 'r3', { chunkMs: 100, leadMs: 200, clock: () => 0, timers: clock });
    playout.append('First.', speech(300));
    await clock.advance(700); // synthesis of the next is slow
    playout.append('Second.', speech(500));
    playout.finish();
    const done = playout.done();
    await clock.advance(1_000);
    const spoken = await done;
    const resumedAt = sent[3].atMs;
    expect(resumedAt).toBe(700);
    // After the gap, the second sentence is paced from when it arrived: 500 ms at most 300 ms early.
    expect(sent[7].atMs - resumedAt).toBeGreaterThan(150);
    expect(spoken.text).toBe('First. Second.');
    playback.end();
  });

  it('never started (cancelled before audio): settles at once with nothing heard and no clear', async () => {
    const clock = new ManualClock();
    const { outbound, playback } = twilioLikeCarrier(clock);
    const playout = new Playout(outbound, 'r4', {
      chunkMs: 100,
      leadMs: 200,
      clock: () => 1234,
      timers: clock,
    });
    playout.interrupt();
    expect(await playout.done()).toMatchObject({ text: '', heardMs: 0, interrupted: false, startMs: 1234 });
    expect(playback.summary().clears).toBe(0);
  });
});
