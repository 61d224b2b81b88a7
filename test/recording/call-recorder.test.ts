import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WaveFile } from 'wavefile';
import { Leg } from '../../src/calls/leg.js';
import { PlayedAudio } from '../../src/calls/played-audio.js';
import { CallRecorder } from '../../src/recording/call-recorder.js';

/**
 * The recorder lays each leg's frames on the file as the aligner emitted them: time the aligner
 * skipped (a timestamp jump longer than the fill limit) is not written, gaps it filled are.
 */

const FRAME_MS = 20;
const FRAME_BYTES = 160;
const MULAW_HEADER = 58;
const HOUR_MS = 3_600_000;
const timing = { reorderWindowMs: 60, maxFillMs: 1_000, maxQueued: 32 };

const frame = (value: number) => new Uint8Array(FRAME_BYTES).fill(value);
const path = () => join(mkdtempSync(join(tmpdir(), 'voxline-recorder-')), 'call.wav');

/** A caller (left) and agent (right) leg, each feeding its channel of a μ-law recorder. */
function setup(file = path()) {
  const errors: unknown[] = [];
  const recorder = new CallRecorder(file, 'mulaw', 2, timing.maxFillMs);
  const caller = new Leg({ track: 'inbound', label: 'caller' }, timing, (e) => errors.push(e));
  const agent = new Leg({ track: 'outbound', label: 'agent' }, timing, (e) => errors.push(e));
  caller.attach(recorder.channel(0));
  agent.attach(recorder.channel(1));
  return { file, errors, recorder, caller, agent };
}

/** Sends `count` 20 ms frames of `value` on `leg`, from `fromMs` on its clock. */
function send(leg: Leg, fromMs: number, count: number, value: number) {
  for (let i = 0; i < count; i++) leg.pushMulaw(fromMs + i * FRAME_MS, frame(value));
}

function channels(file: string): [Uint8Array, Uint8Array] {
  const wav = new WaveFile(readFileSync(file));
  return wav.getSamples(false, Uint8Array) as unknown as [Uint8Array, Uint8Array];
}

/** Lengths of the runs of equal bytes in `samples`, as [value, length] pairs. */
function runs(samples: ArrayLike<number>): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    const last = out.at(-1);
    if (last && last[0] === v) last[1]++;
    else out.push([v, 1]);
  }
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('CallRecorder across timestamp jumps', () => {
  it('writes 2 s, not 10 h, when both legs jump 10 h (by different amounts) between two seconds of audio', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { file, errors, recorder, caller, agent } = setup();
    send(caller, 0, 50, 0x11);
    send(agent, 0, 50, 0x22);
    vi.advanceTimersByTime(500); // a periodic flush between the two halves
    send(caller, 10 * HOUR_MS, 50, 0x33);
    vi.advanceTimersByTime(500); // the other leg has not jumped yet: nothing may be padded
    send(agent, 10 * HOUR_MS + 7_000, 50, 0x44);
    caller.end();
    agent.end();
    const info = await recorder.close();
    expect(errors).toEqual([]);
    expect(caller.stats().skippedMs).toBe(10 * HOUR_MS - 1_000);
    expect(info.durationMs).toBe(2_000);
    expect(info.bytes).toBe(MULAW_HEADER + 2 * 16_000);
    expect(statSync(file).size).toBe(info.bytes);
    const [left, right] = channels(file);
    expect(runs(left)).toEqual([
      [0x11, 8_000],
      [0x33, 8_000],
    ]);
    expect(runs(right)).toEqual([
      [0x22, 8_000],
      [0x44, 8_000],
    ]);
  });

  it('follows the aligner exactly: a 3 s jump (over the 1 s fill limit) is skipped, a 200 ms gap is filled', async () => {
    const { file, recorder, caller, agent } = setup();
    send(caller, 0, 20, 0x11); // 0–400 ms
    send(caller, 600, 20, 0x11); // 600–1000 ms: 200 ms lost, filled by the aligner
    send(caller, 4_000, 50, 0x33); // a 3 s jump: skipped by the aligner
    send(agent, 0, 100, 0x22); // 2 s straight through
    caller.end();
    agent.end();
    const info = await recorder.close();
    expect(caller.stats()).toMatchObject({ gapFilledMs: 200, skippedMs: 3_000 });
    expect(info.durationMs).toBe(2_000);
    const [left, right] = channels(file);
    expect(runs(left)).toEqual([
      [0x11, 3_200],
      [0xff, 1_600], // the filled gap is in the file, as μ-law silence
      [0x11, 3_200],
      [0x33, 8_000],
    ]);
    expect(runs(right)).toEqual([[0x22, 16_000]]);
  });

  it('bounds what a source without skip marks can pad: played audio on a clock that jumped 10 h lands where the call is', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const file = path();
    const recorder = new CallRecorder(file, 'pcm16', 2, timing.maxFillMs);
    const caller = new Leg({ track: 'inbound', label: 'caller' }, timing, () => undefined);
    const played = new PlayedAudio('agent', () => undefined);
    caller.attach(recorder.channel(0));
    played.attach(recorder.channel(1));
    send(caller, 0, 50, 0x80);
    played.push(new Int16Array(8_000).fill(1_000), 200); // 0.5 s of agent speech at 200 ms
    vi.advanceTimersByTime(500);
    send(caller, 10 * HOUR_MS, 5, 0x80);
    played.push(new Int16Array(8_000).fill(1_000), 10 * HOUR_MS + 100); // the agent follows the jumped clock
    send(caller, 10 * HOUR_MS + 100, 45, 0x80);
    caller.end();
    played.end();
    const info = await recorder.close();
    expect(info.durationMs).toBe(2_000);
    expect(info.bytes).toBe(44 + 2 * 2 * 32_000);
    const wav = new WaveFile(readFileSync(file));
    const [, right] = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
    // Each reply where the caller's audio had got to when it played: 200 ms, then 1.1 s.
    expect(runs(right)).toEqual([
      [0, 3_200],
      [1_000, 8_000],
      [0, 6_400],
      [1_000, 8_000],
      [0, 6_400],
    ]);
  });

  it('refuses timestamps out of range at the leg (counted as dropped), so nothing reaches the recorder', async () => {
    const { file, errors, recorder, caller, agent } = setup();
    send(caller, 0, 50, 0x11);
    caller.pushMulaw(1e15, frame(0x99));
    caller.pushMulaw(Number.POSITIVE_INFINITY, frame(0x99));
    caller.pushMulaw(-20, frame(0x99));
    send(caller, 1_000, 50, 0x33);
    send(agent, 0, 100, 0x22);
    caller.end();
    agent.end();
    const info = await recorder.close();
    expect(errors).toEqual([]);
    expect(caller.stats()).toMatchObject({
      framesReceived: 103,
      framesDropped: 3,
      badTimestamps: 3,
      droppedMs: 60,
      skippedMs: 0,
      positionMs: 2_000,
    });
    expect(info.durationMs).toBe(2_000);
    const [left] = channels(file);
    expect(runs(left)).toEqual([
      [0x11, 8_000],
      [0x33, 8_000],
    ]);
  });
});
