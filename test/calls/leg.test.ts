import { describe, expect, it } from 'vitest';
import type { AudioFrame } from '../../src/audio/frame.js';
import { Leg, type LegConsumer } from '../../src/calls/leg.js';

const aligner = { reorderWindow: 0, maxFill: 8000, maxQueued: 16 };

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
});
