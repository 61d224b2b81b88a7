import { describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../../src/audio/g711.js';
import { Upsampler8to16 } from '../../../src/audio/upsampler.js';
import { AnswerDetector, type AnsweredBy } from '../../../src/calls/outbound/answer-detector.js';
import { demoCall } from '../../helpers/media.js';
import { sine } from '../../helpers/signal.js';

const ms = (n: number) => n * 16;
const tone = (durationMs: number, amplitude = 8000) => sine(ms(durationMs), 16000, 440, amplitude);
const silence = (durationMs: number) => new Int16Array(ms(durationMs));

/** Feeds the pieces in 20 ms frames, as a leg delivers them; the verdict and when it came. */
function judge(...pieces: Int16Array[]): { verdict: AnsweredBy | undefined; atMs: number } {
  const detector = new AnswerDetector();
  let fed = 0;
  for (const piece of pieces)
    for (let at = 0; at < piece.length; at += 320) {
      fed += Math.min(320, piece.length - at);
      const verdict = detector.push(piece.subarray(at, at + 320));
      if (verdict) return { verdict, atMs: fed / 16 };
    }
  return { verdict: detector.verdict, atMs: fed / 16 };
}

function leg(pcm8k: Uint8Array): Int16Array {
  return new Upsampler8to16().pushPcm(mulawToPcm(pcm8k));
}

describe('answering-machine detection (Asterisk app_amd rules)', () => {
  it('real speech: "Hello world." then quiet is a person; a long sentence is a machine greeting', () => {
    const greeting = demoCall('greeting');
    const person = judge(leg(greeting.agent)); // "Hello world." at 0.3–1.7 s, then silence
    expect(person.verdict).toBe('human');
    expect(person.atMs).toBeGreaterThan(1704 + 700);
    expect(person.atMs).toBeLessThan(1704 + 1000);
    const machine = judge(leg(greeting.caller)); // silence to 1.9 s, then "he was not an ill disposed young man"
    expect(machine.verdict).toBe('machine');
    expect(machine.atMs).toBeGreaterThan(1900);
    expect(machine.atMs).toBeLessThan(4000);
  });

  it('a word and a wait is a person; three words, or 1.5 s of talk, or 2.5 s of silence first is a machine', () => {
    expect(judge(tone(400), silence(1000)).verdict).toBe('human');
    expect(judge(tone(300), silence(200), tone(300), silence(200), tone(300)).verdict).toBe('machine');
    expect(judge(tone(2000)).verdict).toBe('machine');
    expect(judge(silence(2400)).verdict).toBeUndefined();
    expect(judge(silence(2600)).verdict).toBe('machine');
  });

  it('clicks are not words, line noise is not speech, and no verdict by 5 s is unknown', () => {
    // 60 ms clicks every 400 ms: never a word (100 ms), and each breaks the initial silence.
    const clicks = Array.from({ length: 5 }, () => [tone(60), silence(340)]).flat();
    expect(judge(...clicks).verdict).toBeUndefined();
    expect(judge(sine(ms(3000), 16000, 300, 100)).verdict).toBe('machine'); // a -50 dBFS hum is silence
    // Words with pauses a person would not leave unanswered (under 800 ms): the third is a machine.
    expect(judge(tone(200), silence(600), tone(200), silence(600), tone(200)).verdict).toBe('machine');
    // 40 ms bursts 60 ms apart (a gap of 50 ms ends a word): 3.2 s of sound, and not one word in it.
    const mumble = Array.from({ length: 32 }, () => [tone(40), silence(60)]).flat();
    const undecided = judge(...mumble, silence(2000));
    expect(undecided).toEqual({ verdict: 'unknown', atMs: 5000 });
  });
});
