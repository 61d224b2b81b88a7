/**
 * Audio conversion speed on one core, as multiples of real time: 8 kHz μ-law → 16 kHz PCM16,
 * fed in 20 ms chunks (how calls arrive) through the streaming upsampler, on real speech.
 */
import { Upsampler8to16 } from '../src/audio/upsampler.js';
import { demoLegs, machine, median, nowNs } from './lib.js';

export interface ConversionResult {
  audioSeconds: number;
  timesRealTime: number;
}

export function benchConversion(rounds = Number(process.env.ROUNDS ?? 40)): ConversionResult {
  const { caller, agent } = demoLegs();
  const speech = new Uint8Array(caller.length + agent.length);
  speech.set(caller);
  speech.set(agent, caller.length);
  const audioSeconds = speech.length / 8000;
  const upsampler = new Upsampler8to16();
  const out = new Int16Array(320);
  let check = 0;
  const run = () => {
    for (let at = 0; at + 160 <= speech.length; at += 160)
      upsampler.pushMulaw(speech.subarray(at, at + 160), out);
    check += out[17];
  };
  for (let i = 0; i < 10; i++) run();
  const perRound: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = nowNs();
    run();
    perRound.push(Number(nowNs() - start) / 1e9);
  }
  if (Number.isNaN(check)) throw new Error('no output');
  return { audioSeconds, timesRealTime: audioSeconds / median(perRound) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = benchConversion();
  console.log(
    `conversion (${machine()}): μ-law 8 kHz → PCM16 16 kHz in 20 ms chunks, ${r.audioSeconds} s of speech`,
  );
  console.log(`  ${r.timesRealTime.toFixed(0)}× real time on one core`);
}
