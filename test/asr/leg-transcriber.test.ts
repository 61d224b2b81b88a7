import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegTranscriber } from '../../src/asr/leg-transcriber.js';
import type { SttStream } from '../../src/asr/stt.js';
import { SileroVad } from '../../src/asr/vad/silero-vad.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import { frameAt, pushPaced, sttDouble } from '../helpers/leg-feed.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { demoCall } from '../helpers/media.js';

let vad: SileroVad;
beforeAll(async () => {
  vad = await SileroVad.load();
});
afterAll(async () => {
  await vad.close();
});

/** A leg's transcriber with the segmenting the app uses for agent turns. */
function legTranscriber(
  stt: SttStream,
  on: SileroVad,
  log = pino({ level: 'silent' }),
  onSpeech?: (type: 'start' | 'end', atMs: number) => void,
): LegTranscriber {
  return new LegTranscriber(
    stt,
    on,
    {
      segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 600, maxUtteranceMs: 60_000 },
      prerollMs: 300,
      finalTimeoutMs: 1_000,
      ...(onSpeech ? { onSpeech } : {}),
    },
    log,
  );
}

describe('LegTranscriber speech edges', () => {
  it('tells of the end of speech before it flushes, so a final given from inside the flush finds its turn', async () => {
    const order: string[] = [];
    const stt = sttDouble({
      flush: (atMs) => order.push(`flush@${Math.round(atMs)}`),
    });
    const transcriber = legTranscriber(stt, vad, undefined, (type, atMs) =>
      order.push(`${type}@${Math.round(atMs)}`),
    );
    const call = demoCall('greeting');
    const speech = new Upsampler8to16().pushMulaw(call.caller);
    const pcm = new Int16Array(speech.length + 16_000); // and a second of silence after it
    pcm.set(speech);
    // Frame by frame, letting the VAD keep up, as it does with audio arriving at real time.
    await pushPaced(transcriber, pcm);
    transcriber.end();
    await transcriber.done;
    expect(order.map((e) => e.split('@')[0])).toEqual(['start', 'end', 'flush']);
    const [start, end, flush] = order.map((e) => Number(e.split('@')[1]));
    expect(end).toBe(flush);
    const segment = call.segments.find((s) => s.leg === 'caller');
    // Silero hears this recording's soft first word late (the pre-roll covers that); the end is close.
    expect(start - (segment?.startMs ?? 0)).toBeGreaterThanOrEqual(-100);
    expect(start - (segment?.startMs ?? 0)).toBeLessThan(320);
    expect(Math.abs(end - (segment?.endMs ?? 0))).toBeLessThan(200);
  });

  it('a VAD closed under it (shutdown) is no error: the leg passes the rest of its audio on, and logs at debug', async () => {
    const own = await SileroVad.load();
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let pushed = 0;
    const stt = sttDouble({
      pushFrame: () => {
        pushed++;
      },
    });
    const transcriber = legTranscriber(stt, own, log);
    await own.close();
    const speech = new Upsampler8to16().pushMulaw(demoCall('greeting').caller);
    for (let at = 0; at + 320 <= speech.length; at += 320) transcriber.push(frameAt(speech, at));
    transcriber.end();
    await transcriber.done;
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.filter((l) => /VAD closed/.test(l.msg))).toHaveLength(1);
    expect(pushed).toBeGreaterThan(0);
  });
});

describe('LegTranscriber at the end of a leg: waits for its last finals while the engine works', () => {
  /** A stream whose last final comes when the test says; `work()` is the engine making progress. */
  function slowStream() {
    let steps = 0;
    let finish: () => void = () => {};
    const closed: string[] = [];
    const stt = sttDouble({
      endInput: () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
      close: () => closed.push('closed'),
      progress: () => steps,
    });
    return { stt, closed, work: () => steps++, finish: () => finish() };
  }

  function ended(stt: SttStream, clock: ManualClock) {
    const transcriber = new LegTranscriber(
      stt,
      undefined,
      {
        segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 600, maxUtteranceMs: 60_000 },
        prerollMs: 300,
        finalTimeoutMs: 1_000,
        clock,
      },
      pino({ level: 'silent' }),
    );
    let done = false;
    void transcriber.done.then(() => {
      done = true;
    });
    transcriber.end();
    return { isDone: () => done };
  }

  it('keeps waiting past the timeout while the engine progresses, and closes the stream once the final is out', async () => {
    const clock = new ManualClock();
    const slow = slowStream();
    const leg = ended(slow.stt, clock);
    for (let second = 0; second < 5; second++) {
      slow.work(); // the model decoded a step (this leg's, or a leg's queued ahead of it)
      await clock.advance(1_000);
      expect(leg.isDone()).toBe(false);
      expect(slow.closed).toEqual([]);
    }
    slow.finish();
    await clock.advance(0);
    expect(leg.isDone()).toBe(true);
    expect(slow.closed).toEqual(['closed']);
  });

  it('gives up after the timeout with no progress: the stream is closed (what it held counts as lost)', async () => {
    const clock = new ManualClock();
    const slow = slowStream();
    const leg = ended(slow.stt, clock);
    slow.work();
    await clock.advance(1_000); // progress since the end began: wait on
    expect(leg.isDone()).toBe(false);
    await clock.advance(1_000); // none in the last second: stop waiting
    expect(leg.isDone()).toBe(true);
    expect(slow.closed).toEqual(['closed']);
  });
});

describe('LegTranscriber with a VAD that falls behind', () => {
  it('judges the windows beyond its backlog by level: loud ones pass as speech, quiet line noise after them is not sent', async () => {
    // A VAD far slower than real time (it answers when the test lets it), right about what it hears.
    const answers: (() => void)[] = [];
    const slowVad = {
      probability: (_state: unknown, window: Float32Array) => {
        const loud = Math.abs(window[0]) + Math.abs(window[1]) > 0.05;
        return new Promise<number>((resolve) => {
          answers.push(() => resolve(loud ? 0.99 : 0.01));
        });
      },
    } as unknown as SileroVad;
    const sent: number[] = [];
    const stt = sttDouble({
      pushFrame: (frame) => sent.push(frame.startMs),
    });
    const transcriber = new LegTranscriber(
      stt,
      slowVad,
      {
        segmenter: { threshold: 0.5, minSpeechMs: 96, minSilenceMs: 500, maxUtteranceMs: 60_000 },
        prerollMs: 300,
        finalTimeoutMs: 1_000,
        gateDbfs: -50,
      },
      pino({ level: 'silent' }),
    );
    // 3 s loud (a square wave at about −9 dBFS), then 8 s of quiet line noise (about −56 dBFS),
    // while the VAD answers one window per 320 ms of audio: it falls far behind.
    let state = 7;
    const noise = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return Math.round(((state / 2 ** 32) * 2 - 1) * 90);
    };
    for (let f = 0; f < 550; f++) {
      const pcm = new Int16Array(320);
      for (let i = 0; i < 320; i++) pcm[i] = f < 150 ? (i % 40 < 20 ? 12_000 : -12_000) : noise();
      transcriber.push({
        leg: 'caller',
        pcm,
        mulaw: new Uint8Array(160),
        startMs: f * 20,
        durationMs: 20,
        filled: false,
      });
      if (f % 16 === 15) answers.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    while (answers.length > 0) {
      answers.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    transcriber.end();
    await transcriber.done;
    expect(transcriber.stats.vadOverruns).toBeGreaterThan(50);
    // The loud part went to the engine. Of the 8 s of quiet, only what the VAD's backlog (64 windows,
    // about 2 s) and the hangover (500 ms) held it behind: passing every window beyond the backlog
    // as speech kept the leg "speaking", and sent all 8 s.
    expect(sent.filter((ms) => ms < 3_000).length).toBe(150);
    const quietSentMs = sent.filter((ms) => ms >= 3_000).length * 20;
    expect(quietSentMs).toBeLessThanOrEqual(64 * 32 + 500 + 300);
  });
});
