import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLUMNS_HZ, DIGITS, ROWS_HZ } from '../../src/audio/dtmf-block.js';
import { DtmfDetector, type DtmfTone } from '../../src/audio/dtmf-detector.js';
import { pcmToMulaw } from '../../src/audio/g711.js';
import { HALFBAND_DELAY_MS } from '../../src/audio/halfband.js';
import { createLegDecoder } from '../../src/audio/leg-decoder.js';
import { Upsampler8to16 } from '../../src/audio/upsampler.js';
import { decodeWav, downmix } from '../../src/audio/wav.js';

const BLOCK_MS = 12.5;
/** Edges are measured finer than a block; this is what the tests hold them to. */
const EDGE_MS = 4;
const SEED = 20_261_203;

/** Seeded Gaussian noise: the tests must give the same result every run. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return (s + 1) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

interface Piece {
  /** A key, a [row Hz, column Hz] pair, or nothing (silence, or just the noise). */
  tone?: string | readonly [number, number];
  ms: number;
  /** Level of the pair, as the RMS of both tones against a full-scale sine (AES17 dBFS). */
  dbfs?: number;
  /** How much louder the row (low) tone is than the column (high) one, dB; negative: quieter. */
  rowOverColumnDb?: number;
}

/** PCM16 of the pieces one after another, with white noise `snrDb` under the quietest tone. */
function synth(pieces: readonly Piece[], { rate = 16_000, snrDb = Number.POSITIVE_INFINITY, seed = 1 } = {}) {
  const lengths = pieces.map((p) => Math.round((p.ms * rate) / 1000));
  const out = new Int16Array(lengths.reduce((a, b) => a + b, 0));
  const quietest = Math.min(...pieces.map((p) => (p.tone ? (p.dbfs ?? -10) : 0)));
  const sigma = (32_767 / Math.SQRT2) * 10 ** ((quietest - snrDb) / 20);
  const noise = gaussian(seed);
  let at = 0;
  pieces.forEach((piece, i) => {
    const [row, column] = typeof piece.tone === 'string' ? pair(piece.tone) : (piece.tone ?? [0, 0]);
    const rms = (32_767 / Math.SQRT2) * 10 ** ((piece.dbfs ?? -10) / 20);
    const ratio = 10 ** ((piece.rowOverColumnDb ?? 0) / 20);
    const columnAmp = piece.tone ? Math.sqrt((2 * rms * rms) / (1 + ratio * ratio)) : 0;
    for (let n = 0; n < lengths[i]; n++) {
      const t = n / rate;
      const v =
        ratio * columnAmp * Math.sin(2 * Math.PI * row * t + 0.3) +
        columnAmp * Math.sin(2 * Math.PI * column * t + 1.1) +
        sigma * noise();
      out[at + n] = Math.max(-32_768, Math.min(32_767, Math.round(v)));
    }
    at += lengths[i];
  });
  return out;
}

function pair(digit: string): [number, number] {
  const d = DIGITS.indexOf(digit);
  return [ROWS_HZ[d >> 2], COLUMNS_HZ[d & 3]];
}

/** All the tones in `pcm`, fed in frames of `frame` samples from `startMs` on. */
function detect(pcm: Int16Array, { frame = 320, startMs = 0, rate = 16_000 as 16_000 | 8_000 } = {}) {
  const detector = new DtmfDetector(rate);
  const tones: DtmfTone[] = [];
  for (let i = 0; i < pcm.length; i += frame)
    tones.push(...detector.push(pcm.subarray(i, i + frame), startMs + (i * 1000) / rate));
  tones.push(...detector.flush());
  return tones;
}

const digitsOf = (tones: readonly DtmfTone[]) => tones.map((t) => t.digit).join('');

function expectEdges(tone: DtmfTone | undefined, startMs: number, endMs: number, what: string) {
  expect(Math.abs((tone?.startMs ?? Number.NaN) - startMs), `${what}: start`).toBeLessThanOrEqual(EDGE_MS);
  expect(Math.abs((tone?.endMs ?? Number.NaN) - endMs), `${what}: end`).toBeLessThanOrEqual(EDGE_MS);
}

describe('DtmfDetector: key presses', () => {
  it('hears all 16 keys from −3 to −30 dBFS, lasting 40 to 500 ms, edges within 4 ms (a third of a block)', () => {
    for (const digit of DIGITS)
      for (const dbfs of [-3, -12, -21, -30])
        for (const ms of [40, 50, 100, 500])
          for (const lead of [100, 105.3]) {
            const what = `${digit} at ${dbfs} dBFS for ${ms} ms from ${lead} ms`;
            const tones = detect(synth([{ ms: lead }, { tone: digit, ms, dbfs }, { ms: 80 }]));
            expect(digitsOf(tones), what).toBe(digit);
            expectEdges(tones[0], lead, lead + ms, what);
          }
  });

  it('hears them in white noise at 15 and 20 dB SNR', () => {
    for (const snrDb of [15, 20])
      for (const digit of DIGITS)
        for (const [dbfs, ms] of [
          [-10, 40],
          [-30, 40],
          [-20, 100],
        ]) {
          const what = `${digit} at ${dbfs} dBFS, ${ms} ms, ${snrDb} dB SNR`;
          const pcm = synth([{ ms: 97 }, { tone: digit, ms, dbfs }, { ms: 80 }], { snrDb, seed: ms + dbfs });
          const tones = detect(pcm);
          expect(digitsOf(tones), what).toBe(digit);
          expectEdges(tones[0], 97, 97 + ms, what);
        }
  });

  it('accepts twist up to 8 dB with the row louder and 4 dB with the column louder, and nothing beyond', () => {
    const heard = (rowOverColumnDb: number) =>
      [...DIGITS]
        .map((digit) =>
          digitsOf(detect(synth([{ ms: 50 }, { tone: digit, ms: 60, rowOverColumnDb }], { snrDb: 20 }))),
        )
        .join('');
    expect(heard(7)).toBe(DIGITS);
    expect(heard(-3)).toBe(DIGITS);
    expect(heard(10)).toBe('');
    expect(heard(-6)).toBe('');
  });

  it('accepts tones 1.5 % off their frequencies and rejects them 3.5 % off (ITU-T Q.24)', () => {
    const heard = (off: number) =>
      [...DIGITS]
        .map((digit) => {
          const [row, column] = pair(digit);
          return digitsOf(
            detect(synth([{ ms: 50 }, { tone: [row * (1 + off), column * (1 - off)], ms: 60 }])),
          );
        })
        .join('');
    expect(heard(0.015)).toBe(DIGITS);
    expect(heard(-0.015)).toBe(DIGITS);
    expect(heard(0.035)).toBe('');
    expect(heard(-0.035)).toBe('');
  });

  it('tells key presses apart by 50 ms and 40 ms gaps, bridges a 10 ms dropout, and finds each in place', () => {
    const pieces: Piece[] = [{ ms: 30 }];
    for (const digit of '1234#') pieces.push({ tone: digit, ms: 60 }, { ms: 50 });
    const tones = detect(synth(pieces, { snrDb: 20 }));
    expect(digitsOf(tones)).toBe('1234#');
    tones.forEach((tone, i) => {
      expectEdges(tone, 30 + 110 * i, 90 + 110 * i, `key ${i}`);
    });

    const twice = synth([{ ms: 30 }, { tone: '5', ms: 45 }, { ms: 40 }, { tone: '5', ms: 45 }, { ms: 50 }]);
    expect(digitsOf(detect(twice))).toBe('55');
    const dropout = synth([{ ms: 30 }, { tone: '9', ms: 50 }, { ms: 10 }, { tone: '9', ms: 50 }, { ms: 50 }]);
    expect(digitsOf(detect(dropout))).toBe('9');
  });

  it('takes no burst of 30 ms or less for a key press, wherever it falls on the blocks', () => {
    for (const ms of [20, 30])
      for (const digit of DIGITS)
        for (const lead of [100, 102.5, 106, 109.4])
          expect(
            detect(synth([{ ms: lead }, { tone: digit, ms }, { ms: 60 }])),
            `${digit}, ${ms} ms`,
          ).toEqual([]);
  });

  it('hears keys the way calls carry them: 8 kHz μ-law, decoded and upsampled by the leg decoder', () => {
    for (const dbfs of [-3, -20, -30])
      for (const digit of DIGITS) {
        const narrow = synth([{ ms: 60 }, { tone: digit, ms: 40, dbfs }, { ms: 60 }], {
          rate: 8000,
          snrDb: 20,
        });
        const mulaw = pcmToMulaw(narrow);
        const leg = createLegDecoder('pcmu');
        const detector = new DtmfDetector();
        const tones: DtmfTone[] = [];
        for (let at = 0; at < mulaw.length; at += 160)
          tones.push(...detector.push(leg.decode(mulaw.subarray(at, at + 160)).pcm, at / 8));
        tones.push(...detector.flush());
        const what = `${digit} at ${dbfs} dBFS through μ-law`;
        expect(digitsOf(tones), what).toBe(digit);
        // The upsampler's half-band filter delays everything by 1.94 ms.
        expectEdges(tones[0], 60 + HALFBAND_DELAY_MS, 100 + HALFBAND_DELAY_MS, what);
        expect(digitsOf(detect(narrow, { rate: 8000, frame: 160 })), `${what}, at 8 kHz`).toBe(digit);
      }
  });
});

describe('DtmfDetector: talk-off', () => {
  it('hears no key in the real speech of media/demo (0.93 min), as PCM or through μ-law, quiet or hot', () => {
    let seconds = 0;
    for (const file of readdirSync('media/demo').filter((f) => f.endsWith('.wav'))) {
      const audio = decodeWav(readFileSync(`media/demo/${file}`));
      expect(audio.sampleRate).toBe(8000);
      const speech = Int16Array.from(downmix(audio));
      seconds += speech.length / 8000;
      for (const gainDb of [-12, 0, 9]) {
        const gain = 10 ** (gainDb / 20);
        const scaled = speech.map((s) => Math.max(-32_768, Math.min(32_767, Math.round(s * gain))));
        const what = `${file} at ${gainDb} dB`;
        expect(detect(new Upsampler8to16().pushPcm(scaled)), what).toEqual([]);
        const leg = createLegDecoder('pcmu');
        const mulaw = pcmToMulaw(scaled);
        const detector = new DtmfDetector();
        for (let at = 0; at < mulaw.length; at += 160)
          expect(detector.push(leg.decode(mulaw.subarray(at, at + 160)).pcm, at / 8), what).toEqual([]);
        expect(detector.flush(), what).toEqual([]);
      }
    }
    expect(seconds).toBeCloseTo(56, 0);
  });

  it('hears no key in chords, a pair drowned by a third tone, or sweeps', () => {
    const chords: (readonly number[])[] = [
      [262, 330, 392, 523, 659], // C major, two octaves
      [220, 440, 660, 880, 1100, 1320], // a harmonic series on A
      [697, 1000, 1500], // one row tone among others
      [697, 1209, 1000, 1000], // a real pair under a tone twice as loud
    ];
    for (const freqs of chords) {
      const pcm = Int16Array.from({ length: 16_000 }, (_, n) =>
        Math.round(
          freqs.reduce((v, f) => v + (20_000 / freqs.length) * Math.sin((2 * Math.PI * f * n) / 16_000), 0),
        ),
      );
      expect(detect(pcm), freqs.join('+')).toEqual([]);
    }
    // A glide through 300–3400 Hz in 2 s, and a chirp at twice the pace with its octave.
    let phase = 0;
    const sweep = Int16Array.from({ length: 32_000 }, (_, n) => {
      phase += (2 * Math.PI * (300 + (3100 * n) / 32_000)) / 16_000;
      return Math.round(20_000 * Math.sin(phase));
    });
    expect(detect(sweep)).toEqual([]);
    phase = 0;
    const glide = Int16Array.from({ length: 16_000 }, (_, n) => {
      phase += (2 * Math.PI * (300 + (3100 * n) / 16_000)) / 16_000;
      return Math.round(14_000 * Math.sin(phase) + 7_000 * Math.sin(2 * phase));
    });
    expect(detect(glide)).toEqual([]);
  });
});

describe('DtmfDetector: streaming', () => {
  const pcm = synth([{ ms: 50 }, { tone: '8', ms: 90 }, { ms: 60 }, { tone: 'B', ms: 120 }, { ms: 53 }], {
    snrDb: 20,
  });

  it('gives the very same tones whatever the frame sizes', () => {
    const whole = detect(pcm, { frame: pcm.length, startMs: 1000 });
    expect(digitsOf(whole)).toBe('8B');
    for (const frame of [1, 7, 160, 320, 333])
      expect(detect(pcm, { frame, startMs: 1000 }), `frames of ${frame}`).toEqual(whole);
  });

  it('starts afresh after a jump in startMs, returning the tone that was sounding', () => {
    const half = synth([{ ms: 50 }, { tone: '3', ms: 30 }]);
    const rest = synth([{ tone: '3', ms: 30 }, { ms: 50 }]);
    const detector = new DtmfDetector();
    expect(detector.push(half, 0)).toEqual([]);
    // 30 ms before and 30 ms after a 2 s jump are not one key press.
    expect([...detector.push(rest, 2080), ...detector.flush()]).toEqual([]);
    // Contiguous, they are.
    expect(digitsOf([...detector.push(half, 0), ...detector.push(rest, 80), ...detector.flush()])).toBe('3');

    const long = synth([{ ms: 50 }, { tone: '3', ms: 100 }]);
    expect(detector.push(long, 5000)).toEqual([]);
    const ended = detector.push(synth([{ ms: 20 }]), 9000);
    expect(digitsOf(ended)).toBe('3');
    expectEdges(ended[0], 5050, 5150, 'tone cut by the jump');
    expect(detector.pendingFromMs()).toBeUndefined();
  });
});

describe('DtmfDetector: pendingFromMs', () => {
  it('is undefined over silence and quiet line noise, set from a tone’s onset on, cleared once it is returned', () => {
    for (const onset of [200, 206.25, 211.9]) {
      const detector = new DtmfDetector();
      const quiet = synth([{ ms: onset }, { tone: '7', ms: 100, dbfs: -30 }, { ms: 100 }], { snrDb: 30 });
      const tones: DtmfTone[] = [];
      for (let at = 0; at < quiet.length; at += 80) {
        tones.push(...detector.push(quiet.subarray(at, at + 80), at / 16));
        const fedMs = (at + 80) / 16;
        const pending = detector.pendingFromMs();
        if (fedMs <= onset) expect(pending, `${fedMs} ms, before the tone`).toBeUndefined();
        else if (fedMs >= onset + BLOCK_MS && tones.length === 0) {
          expect(pending, `${fedMs} ms, tone from ${onset}`).toBeDefined();
          expect(pending).toBeLessThanOrEqual(onset + EDGE_MS);
        }
        if (tones.length > 0 && fedMs >= tones[0].endMs + 3 * BLOCK_MS) expect(pending).toBeUndefined();
      }
      expect(digitsOf(tones)).toBe('7');
    }
  });

  it('never lets go of audio a tone sounds in (what the recorder relies on)', () => {
    for (const lead of [40, 43.1, 46.2, 49.9])
      for (const snrDb of [15, 40]) {
        const keys = [
          { onset: lead, end: lead + 45 },
          { onset: lead + 85, end: lead + 145 },
        ];
        const pcm = synth(
          [{ ms: lead }, { tone: '0', ms: 45 }, { ms: 40 }, { tone: 'D', ms: 60 }, { ms: 40 }],
          {
            snrDb,
          },
        );
        const detector = new DtmfDetector();
        const tones: DtmfTone[] = [];
        for (let at = 0; at < pcm.length; at += 160) {
          tones.push(...detector.push(pcm.subarray(at, at + 160), at / 16));
          const fedMs = (at + 160) / 16;
          const pending = detector.pendingFromMs() ?? Number.POSITIVE_INFINITY;
          for (const { onset, end } of keys)
            if (fedMs > onset && fedMs < end)
              expect(pending, `${fedMs} ms, key from ${onset}`).toBeLessThanOrEqual(onset);
        }
        expect(digitsOf(tones)).toBe('0D');
      }
  });

  it('trails speech by two blocks at most: blocks are judged, and released, as they fill', () => {
    const speech = Int16Array.from(downmix(decodeWav(readFileSync('media/demo/support-call.caller.wav'))));
    const pcm = new Upsampler8to16().pushPcm(speech);
    const detector = new DtmfDetector();
    let held = 0;
    for (let at = 0; at < pcm.length; at += 320) {
      detector.push(pcm.subarray(at, at + 320), at / 16);
      const pending = detector.pendingFromMs();
      if (pending === undefined) continue;
      held++;
      expect((at + 320) / 16 - pending).toBeLessThanOrEqual(2 * BLOCK_MS);
    }
    expect(held).toBeGreaterThan(0);
  });
});

describe('DtmfDetector: arbitrary input (fast-check)', () => {
  const wellFormed = (tones: readonly DtmfTone[]) => {
    let lastEnd = Number.NEGATIVE_INFINITY;
    for (const tone of tones) {
      expect(DIGITS).toContain(tone.digit);
      expect(tone.digit).toHaveLength(1);
      expect(tone.startMs).toBeLessThan(tone.endMs);
      expect(tone.startMs).toBeGreaterThanOrEqual(lastEnd);
      lastEnd = tone.endMs;
    }
  };

  it('never throws on arbitrary Int16 audio in arbitrary frames; tones are well formed and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -32_768, max: 32_767 }), { maxLength: 6000 }),
        fc.nat(700),
        (s, f) => wellFormed(detect(Int16Array.from(s), { frame: f + 1 })),
      ),
      { numRuns: 300, seed: SEED },
    );
  });

  it('finds random key sequences (any key, 40–200 ms, gaps of 40–200 ms, −3 to −30 dBFS) in noise, in order', () => {
    const key = fc.record({
      digit: fc.constantFrom(...DIGITS),
      ms: fc.integer({ min: 40, max: 200 }),
      gapMs: fc.integer({ min: 40, max: 200 }),
      dbfs: fc.integer({ min: -30, max: -3 }),
    });
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 6 }), fc.nat(400), (keys, frame) => {
        const pieces: Piece[] = [{ ms: 40 }];
        for (const k of keys) pieces.push({ tone: k.digit, ms: k.ms, dbfs: k.dbfs }, { ms: k.gapMs });
        const tones = detect(synth(pieces, { snrDb: 20 }), { frame: frame + 1 });
        wellFormed(tones);
        expect(digitsOf(tones)).toBe(keys.map((k) => k.digit).join(''));
      }),
      { numRuns: 60, seed: SEED },
    );
  });
});
