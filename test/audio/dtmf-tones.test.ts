import { describe, expect, it } from 'vitest';
import { Downsampler16to8 } from '../../src/audio/downsampler.js';
import { DtmfDetector } from '../../src/audio/dtmf-detector.js';
import { dtmfTones } from '../../src/audio/dtmf-tones.js';
import { mulawToPcm } from '../../src/audio/g711.js';

const ALL_KEYS = '123A456B789C*0#D';

function heard(pcm: Int16Array, rate: 8000 | 16000): string {
  const detector = new DtmfDetector(rate);
  const tones = [
    ...detector.push(pcm, 0),
    ...detector.push(new Int16Array(rate / 10), pcm.length / (rate / 1000)),
  ];
  return tones.map((t) => t.digit).join('');
}

describe('in-band DTMF tones', () => {
  it('are heard by the DTMF detector as the keys pressed, repeats apart, each about 100 ms long', () => {
    const keys = `${ALL_KEYS}55`;
    const pcm = dtmfTones(keys);
    expect(pcm.length).toBe(keys.length * 160 * 16);
    const detector = new DtmfDetector(16000);
    const tones = [...detector.push(pcm, 0), ...detector.push(new Int16Array(1600), pcm.length / 16)];
    expect(tones.map((t) => t.digit).join('')).toBe(keys);
    for (const [i, tone] of tones.entries()) {
      expect(tone.startMs).toBeCloseTo(i * 160, -1);
      expect(tone.endMs - tone.startMs).toBeGreaterThan(90);
    }
  });

  it('survive what a phone call does to them: down to 8 kHz and through μ-law', () => {
    const down = new Downsampler16to8();
    const mulaw = down.pushPcmToMulaw(dtmfTones(ALL_KEYS));
    expect(heard(mulawToPcm(mulaw), 8000)).toBe(ALL_KEYS);
  });

  it('peak well below where μ-law clips (−9 and −7 dBm0 summed), and refuse a key that is not on the keypad', () => {
    const pcm = dtmfTones('D');
    const peak = Math.max(...Array.from(pcm, Math.abs));
    expect(peak).toBeGreaterThan(17000);
    expect(peak).toBeLessThan(19000);
    expect(() => dtmfTones('1x')).toThrow(RangeError);
  });
});
