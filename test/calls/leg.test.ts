import { describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { alawToPcm, pcmToAlaw, pcmToMulaw } from '../../src/audio/g711.js';
import { Leg, type LegConsumer } from '../../src/calls/leg.js';
import { amplitudeAt, sine } from '../helpers/signal.js';

const aligner = { reorderWindowMs: 0, maxFillMs: 1000, maxQueued: 16 };

describe('Leg', () => {
  it('turns carrier packets into 16 kHz frames on the call clock, and gaps into marked silence', () => {
    const frames: AudioFrame[] = [];
    const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, () => undefined);
    leg.attach({ push: (f) => frames.push({ ...f, pcm: f.pcm.slice() }), end: () => undefined });
    leg.pushMulaw(0, new Uint8Array(160).fill(0x80));
    leg.pushMulaw(60, new Uint8Array(160).fill(0x80)); // 40 ms missing
    expect(frames.map((f) => [f.startMs, f.durationMs, f.filled, f.pcm.length])).toEqual([
      [0, 20, false, 320],
      [20, 20, true, 320],
      [40, 20, true, 320],
      [60, 20, false, 320],
    ]);
    expect(frames.every((f) => f.leg === 'caller')).toBe(true);
    expect(frames[1].pcm.every((v, i) => i < 64 || v === 0)).toBe(true); // silence after the filter tail
    expect(leg.stats()).toMatchObject({
      framesReceived: 2,
      audioSeconds: 0.04,
      gapFilledMs: 40,
      positionMs: 80,
    });
  });

  it('lends each frame its PCM: the buffer is reused for the next frame, so keepers must copy', () => {
    const lent: Int16Array[] = [];
    const copies: Int16Array[] = [];
    const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, () => undefined);
    leg.attach({
      push: (f) => {
        lent.push(f.pcm);
        copies.push(f.pcm.slice());
      },
      end: () => undefined,
    });
    leg.pushMulaw(0, new Uint8Array(160).fill(0x80)); // loud
    leg.pushMulaw(20, new Uint8Array(160).fill(0xff)); // silence
    expect(lent[0].buffer).toBe(lent[1].buffer);
    expect(copies[0].some((v) => v !== 0)).toBe(true);
    expect(copies[1].slice(64).every((v) => v === 0)).toBe(true);
  });

  it('keeps feeding healthy consumers when one throws, and counts the failures', () => {
    const errors: unknown[] = [];
    const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, (err) => errors.push(err));
    const good: AudioFrame[] = [];
    let goodEnded = false;
    const broken: LegConsumer = {
      push: () => {
        throw new Error('consumer bug');
      },
      end: () => {
        throw new Error('end bug');
      },
    };
    leg.attach(broken);
    leg.attach({
      push: (f) => good.push(f),
      end: () => {
        goodEnded = true;
      },
    });
    for (let i = 0; i < 3; i++) leg.pushMulaw(i * 20, new Uint8Array(160));
    leg.end();
    expect(good).toHaveLength(3);
    expect(goodEnded).toBe(true);
    expect(leg.consumerErrors).toBe(4);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      'consumer bug',
      'consumer bug',
      'consumer bug',
      'end bug',
    ]);
  });

  it('ignores audio after it ended, and ends only once', () => {
    let ends = 0;
    const leg = new Leg({ track: 'outbound', label: 'agent' }, aligner, () => undefined);
    leg.attach({ push: () => undefined, end: () => ends++ });
    leg.end();
    leg.end();
    leg.pushMulaw(0, new Uint8Array(160));
    expect(ends).toBe(1);
    expect(leg.stats().framesReceived).toBe(0);
  });

  describe('other carrier formats', () => {
    const collect = (leg: Leg) => {
      const frames: AudioFrame[] = [];
      leg.attach({
        push: (f) => frames.push({ ...f, pcm: f.pcm.slice(), mulaw: f.mulaw.slice() }),
        end: () => undefined,
      });
      return frames;
    };
    const joined = (frames: AudioFrame[], key: 'pcm' | 'mulaw') => frames.flatMap((f) => [...f[key]]);

    it('A-law (SIP PCMA) decodes exactly: the same 16 kHz audio as the linear samples it encodes', () => {
      const linear = sine(1600, 8000, 440, 8000);
      const viaAlaw = new Leg({ track: 'inbound', label: 'caller', codec: 'pcma' }, aligner, () => undefined);
      const viaPcm = new Leg(
        { track: 'inbound', label: 'caller', codec: 'l16', sampleRate: 8000 },
        aligner,
        () => undefined,
      );
      const a = collect(viaAlaw);
      const p = collect(viaPcm);
      const alaw = pcmToAlaw(linear);
      const decoded = alawToPcm(alaw);
      for (let at = 0; at < 1600; at += 160) {
        viaAlaw.pushBytes(at, alaw.subarray(at, at + 160));
        viaPcm.pushPcm(at, decoded.subarray(at, at + 160));
      }
      expect(joined(a, 'pcm')).toEqual(joined(p, 'pcm'));
      expect(joined(a, 'mulaw')).toEqual([...pcmToMulaw(decoded)]);
      expect(viaAlaw.stats()).toMatchObject({ codec: 'pcma', sampleRate: 8000, audioSeconds: 0.2 });
    });

    it('fills an A-law gap with A-law silence, which decodes to near zero', () => {
      const leg = new Leg({ track: 'inbound', label: 'caller', codec: 'pcma' }, aligner, () => undefined);
      const frames = collect(leg);
      leg.pushBytes(0, new Uint8Array(160).fill(0xd5));
      leg.pushBytes(320, new Uint8Array(160).fill(0xd5));
      expect(frames.map((f) => [f.startMs, f.filled])).toEqual([
        [0, false],
        [20, true],
        [40, false],
      ]);
      expect(Math.max(...joined(frames, 'pcm').map(Math.abs))).toBeLessThanOrEqual(16); // A-law's quietest code is ±8
    });

    it('16 kHz PCM (AudioSocket slin16) passes through untouched, with μ-law made for phone-audio engines', () => {
      const leg = new Leg(
        { track: 'inbound', label: 'caller', codec: 'l16', sampleRate: 16_000 },
        aligner,
        () => undefined,
      );
      const frames = collect(leg);
      const pcm = sine(3200, 16_000, 440, 8000);
      for (let at = 0; at < 3200; at += 320) leg.pushPcm(at, pcm.subarray(at, at + 320));
      expect(joined(frames, 'pcm')).toEqual([...pcm]);
      expect(frames.map((f) => [f.startMs, f.durationMs, f.mulaw.length])).toEqual(
        Array.from({ length: 10 }, (_, i) => [i * 20, 20, 160]),
      );
      expect(leg.stats()).toMatchObject({ sampleRate: 16_000, audioSeconds: 0.2, positionMs: 200 });
    });

    it('48 kHz PCM is resampled to 16 kHz frames of the same duration, placed on the same clock', () => {
      const leg = new Leg(
        { track: 'inbound', label: 'caller', codec: 'l16', sampleRate: 48_000 },
        aligner,
        () => undefined,
      );
      const frames = collect(leg);
      const pcm = sine(9600, 48_000, 1000, 8000);
      for (let at = 0; at < 9600; at += 960) leg.pushPcm(at, pcm.subarray(at, at + 960));
      leg.pushPcm(9600 + 1920, pcm.subarray(0, 960)); // 40 ms later: a gap
      expect(frames.map((f) => f.pcm.length)).toEqual(Array(13).fill(320));
      expect(frames.map((f) => f.startMs)).toEqual(Array.from({ length: 13 }, (_, i) => i * 20));
      expect(frames.filter((f) => f.filled).map((f) => f.startMs)).toEqual([200, 220]);
      expect(amplitudeAt(joined(frames, 'pcm'), 16_000, 1000, 400, 3000)).toBeGreaterThan(7900);
    });

    it('refuses audio in a form the leg was not set up for, loudly', () => {
      const leg = new Leg({ track: 'inbound', label: 'caller', codec: 'l16' }, aligner, () => undefined);
      expect(() => leg.pushBytes(0, new Uint8Array(160))).toThrow(/takes l16, not G.711/);
      const g711 = new Leg({ track: 'inbound', label: 'caller' }, aligner, () => undefined);
      expect(() => g711.pushPcm(0, new Int16Array(160))).toThrow(/takes pcmu, not linear PCM/);
    });
  });
  describe('timestamps out of range', () => {
    it('refuses infinite, negative (carrier ms) and absurd timestamps: counted as dropped, never thrown', () => {
      const frames: AudioFrame[] = [];
      const errors: unknown[] = [];
      const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, (e) => errors.push(e), true);
      leg.attach({ push: (f) => frames.push({ ...f }), end: () => undefined });
      leg.pushMulaw(0, new Uint8Array(160));
      for (const ms of [Number.POSITIVE_INFINITY, -20, 1e15, 2 ** 40])
        expect(() => leg.pushMulaw(ms, new Uint8Array(160))).not.toThrow();
      expect(() => leg.pushBytes(2 ** 41, new Uint8Array(160))).not.toThrow();
      leg.pushMulaw(20, new Uint8Array(160));
      leg.end();
      expect(frames.map((f) => f.startMs)).toEqual([0, 20]);
      expect(errors).toEqual([]);
      expect(leg.stats()).toMatchObject({
        framesReceived: 7,
        framesDropped: 5,
        badTimestamps: 5,
        droppedMs: 100,
        skippedMs: 0,
        positionMs: 40,
      });
      // A refused timestamp does not move the carrier clock either (played audio is placed by it).
      expect(leg.clockMs(performance.now())).toBeLessThan(1_000);
    });

    it('refuses a NaN timestamp without hanging the media path', () => {
      const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, () => undefined);
      leg.pushMulaw(0, new Uint8Array(160));
      leg.pushMulaw(Number.NaN, new Uint8Array(160));
      leg.pushMulaw(20, new Uint8Array(160));
      leg.end();
      expect(leg.stats()).toMatchObject({ framesDropped: 1, badTimestamps: 1, skippedMs: 0, positionMs: 40 });
    });

    it('refuses a bad PCM position the same way', () => {
      const leg = new Leg(
        { track: 'inbound', label: 'caller', codec: 'l16', sampleRate: 16_000 },
        aligner,
        () => undefined,
      );
      leg.pushPcm(0, new Int16Array(320));
      leg.pushPcm(-(2 ** 41), new Int16Array(320));
      leg.pushPcm(2 ** 53, new Int16Array(320));
      leg.pushPcm(320, new Int16Array(320));
      expect(leg.stats()).toMatchObject({ framesDropped: 2, badTimestamps: 2, positionMs: 40 });
    });

    it('marks the first frame after a skipped jump with the time skipped', () => {
      const frames: AudioFrame[] = [];
      const leg = new Leg({ track: 'inbound', label: 'caller' }, aligner, () => undefined);
      leg.attach({ push: (f) => frames.push({ ...f }), end: () => undefined });
      leg.pushMulaw(0, new Uint8Array(160));
      leg.pushMulaw(3_600_000, new Uint8Array(160)); // 1 h later: longer than maxFillMs, skipped
      leg.pushMulaw(3_600_020, new Uint8Array(160));
      expect(frames.map((f) => [f.startMs, f.skippedMs ?? 0])).toEqual([
        [0, 0],
        [3_600_000, 3_600_000 - 20],
        [3_600_020, 0],
      ]);
      expect(leg.stats().skippedMs).toBe(3_600_000 - 20);
    });
  });

  it('gap filling cannot outrun the wall clock: timestamps jumping by just under the fill limit become skips once the filled silence passes elapsed time plus one limit', () => {
    let now = 0;
    const frames: AudioFrame[] = [];
    const leg = new Leg(
      { track: 'inbound', label: 'caller' },
      { ...aligner, now: () => now },
      () => undefined,
    );
    leg.attach({ push: (f) => frames.push({ ...f, pcm: new Int16Array(0) }), end: () => undefined });
    // 20 packets in no time, each 990 ms after the last: 19 gaps of 970 ms.
    for (let i = 0; i < 20; i++) leg.pushMulaw(i * 990, new Uint8Array(160).fill(0x80));
    // The first gap fits in the allowance (one fill limit, 1000 ms); every later one is skipped.
    expect(leg.stats()).toMatchObject({ gapFilledMs: 970 });
    expect(frames.filter((f) => f.filled)).toHaveLength(49); // 970 ms in 20 ms frames, rounded up
    // Once a real second has passed, a gap of that size is filled again.
    now = 1000;
    leg.pushMulaw(20 * 990, new Uint8Array(160).fill(0x80));
    expect(leg.stats()).toMatchObject({ gapFilledMs: 1940 });
  });
});
