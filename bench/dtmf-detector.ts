/**
 * In-band DTMF detector speed on one core, as multiples of real time: both legs of the media/demo
 * calls converted to 16 kHz as the legs carry them, with a key press every second, pushed in 20 ms
 * frames (how calls arrive). Also reports what it allocates per frame (new-space growth over a
 * pass: V8 allocates there first), over the speech alone and with the keys.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { COLUMNS_HZ, DIGITS, ROWS_HZ } from '../src/audio/dtmf-block.js';
import { DtmfDetector } from '../src/audio/dtmf-detector.js';
import { Upsampler8to16 } from '../src/audio/upsampler.js';
import { demoLegs, machine, median, nowNs } from './lib.js';

export interface DtmfDetectorResult {
  audioSeconds: number;
  timesRealTime: number;
  keysPerPass: number;
  /** Over the speech alone: the steady state, which should allocate nothing. */
  bytesPerFrameSpeech: number;
  /** With the keys: each one allocates the tone it returns (and V8 boxes numbers in that cold path). */
  bytesPerFrameKeys: number;
}

const newSpaceUsed = () =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;

/** Both legs at 16 kHz; with a 60 ms key (−15 dBFS) over the start of every second, if `keys`. */
function demoAt16k(keys: boolean): Int16Array {
  const { caller, agent } = demoLegs();
  const mulaw = new Uint8Array(caller.length + agent.length);
  mulaw.set(caller);
  mulaw.set(agent, caller.length);
  const pcm = new Upsampler8to16().pushMulaw(mulaw);
  if (!keys) return pcm;
  const amplitude = 32_767 * 10 ** (-18 / 20);
  for (let second = 0; second * 16_000 < pcm.length; second++) {
    const d = second % DIGITS.length;
    for (let n = 0; n < 960 && second * 16_000 + n < pcm.length; n++) {
      const t = n / 16_000;
      pcm[second * 16_000 + n] =
        amplitude *
        (Math.sin(2 * Math.PI * ROWS_HZ[d >> 2] * t) + Math.sin(2 * Math.PI * COLUMNS_HZ[d & 3] * t));
    }
  }
  return pcm;
}

/** Pushes `pcm` in 20 ms frames through one detector, pass after pass, on one call clock. */
function passes(pcm: Int16Array): { pass: () => number; frames: number } {
  // Views made once, so the loop allocates only what the detector does.
  const frames = Array.from({ length: Math.floor(pcm.length / 320) }, (_, i) =>
    pcm.subarray(320 * i, 320 * i + 320),
  );
  const detector = new DtmfDetector();
  let done = 0;
  const pass = () => {
    let keys = 0;
    // Whole-ms times kept small integers: a fractional clock would be boxed at each call.
    const baseMs = 20 * frames.length * done++;
    for (let i = 0; i < frames.length; i++) {
      keys += detector.push(frames[i], baseMs + 20 * i).length;
      detector.pendingFromMs();
    }
    return keys;
  };
  for (let i = 0; i < 10; i++) pass();
  return { pass, frames: frames.length };
}

/** A scavenge during a pass shrinks new space: the smallest non-negative growth is the honest one. */
function bytesPerFrame({ pass, frames }: ReturnType<typeof passes>): number {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const before = newSpaceUsed();
    pass();
    const grown = newSpaceUsed() - before;
    if (grown >= 0) least = Math.min(least, grown / frames);
  }
  return least;
}

export function benchDtmfDetector(rounds = Number(process.env.ROUNDS ?? 40)): DtmfDetectorResult {
  const keyed = demoAt16k(true);
  const withKeys = passes(keyed);
  const bytesPerFrameSpeech = bytesPerFrame(passes(demoAt16k(false)));
  const bytesPerFrameKeys = bytesPerFrame(withKeys);
  let keysPerPass = 0;
  const perPass: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = nowNs();
    keysPerPass = withKeys.pass();
    perPass.push(Number(nowNs() - start) / 1e9);
  }
  const audioSeconds = keyed.length / 16_000;
  return {
    audioSeconds,
    timesRealTime: audioSeconds / median(perPass),
    keysPerPass,
    bytesPerFrameSpeech,
    bytesPerFrameKeys,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = benchDtmfDetector();
  console.log(
    `DTMF detector (${machine()}): ${r.audioSeconds} s of demo speech at 16 kHz with a key every second, 20 ms frames`,
  );
  console.log(
    `  ${r.timesRealTime.toFixed(0)}× real time on one core (${r.keysPerPass} keys found per pass)`,
  );
  console.log(
    `  allocated per frame: ${r.bytesPerFrameSpeech.toFixed(1)} bytes over speech, ${r.bytesPerFrameKeys.toFixed(1)} with the keys`,
  );
}
