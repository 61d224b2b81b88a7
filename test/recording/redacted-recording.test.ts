import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import type { AudioFrame } from '../../src/audio/frame.js';
import { AudioRedaction, MASK_MARGIN_MS } from '../../src/compliance/audio-redaction.js';
import { CallRecorder, RECORDER_FLUSH_MS } from '../../src/recording/call-recorder.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * A redacting recorder writes a leg's audio only once its gate says it is settled (its transcript
 * is final), writes masked spans as silence or a tone, and fails closed: audio held past the
 * maximum, or unsettled when the recording closes, is written masked too.
 */

const RATE = 16_000;
const FRAME_MS = 20;
const FRAME = (RATE * FRAME_MS) / 1000;
const path = () => join(mkdtempSync(join(tmpdir(), 'voxline-redacted-')), 'call.wav');

/** Distinct, never-zero samples, so any sample can be traced to where it came from. */
const sampleAt = (leg: number, i: number) => ((i * 7 + leg * 3_001) % 20_000) + 100;

function frameAt(leg: number, startMs: number): AudioFrame {
  const first = (startMs * RATE) / 1000;
  const pcm = Int16Array.from({ length: FRAME }, (_, j) => sampleAt(leg, first + j));
  return {
    leg: leg === 0 ? 'caller' : 'agent',
    pcm,
    mulaw: new Uint8Array(FRAME / 2),
    startMs,
    durationMs: FRAME_MS,
    filled: false,
  };
}

function setup(options: { fill?: 'silence' | 'tone'; maxHoldMs?: number } = {}) {
  const clock = new ManualClock();
  const file = path();
  const recorder = new CallRecorder(file, 'pcm16', 2, 1_000, clock);
  const redaction = new AudioRedaction({
    fill: options.fill ?? 'silence',
    maxHoldMs: options.maxHoldMs ?? 30_000,
  });
  let pendingFrom: number | undefined;
  redaction.hold('caller', () => pendingFrom);
  const caller = recorder.channel(0, redaction.gate('caller'));
  const agent = recorder.channel(1, redaction.gate('agent'));
  /** Both legs' frames from `fromMs` to `toMs`. */
  const send = (fromMs: number, toMs: number) => {
    for (let at = fromMs; at < toMs; at += FRAME_MS) {
      caller.push(frameAt(0, at));
      agent.push(frameAt(1, at));
    }
  };
  return {
    clock,
    file,
    recorder,
    redaction,
    send,
    hold: (ms: number | undefined) => {
      pendingFrom = ms;
    },
  };
}

function read(file: string): [Int16Array, Int16Array] {
  const wav = new WaveFile(readFileSync(file));
  const [left, right] = wav.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
  return [left, right];
}

const ms = (samples: number) => (samples * 1000) / RATE;
const at = (msValue: number) => Math.round((msValue * RATE) / 1000);

describe('a redacting recorder', () => {
  it('holds a leg’s audio until it is settled, then writes it, the masked span silent and everything else exact', async () => {
    const { clock, file, recorder, redaction, send, hold } = setup();
    hold(1_000); // the caller's transcript from 1 s on is not final yet
    send(0, 3_000);
    await clock.advance(RECORDER_FLUSH_MS);
    // Only what is settled is written: before 1 s less the margin, for both channels (they stay together).
    expect(recorder.heldMs).toBe(3_000 - (1_000 - MASK_MARGIN_MS));

    redaction.mask('caller', 1_500, 2_000, 'transcript'); // the final came: a card number there
    hold(undefined);
    await clock.advance(RECORDER_FLUSH_MS);
    const info = await recorder.close();
    const [left, right] = read(file);
    expect(left.length).toBe(at(3_000));
    const from = at(1_500 - MASK_MARGIN_MS);
    const to = at(2_000 + MASK_MARGIN_MS);
    for (let i = 0; i < left.length; i++) {
      expect(left[i], `caller sample ${i} (${ms(i)} ms)`).toBe(i >= from && i < to ? 0 : sampleAt(0, i));
      expect(right[i]).toBe(sampleAt(1, i));
    }
    expect(info.redaction).toEqual({ maskedMs: 900, withheldMs: 0 });
  });

  it('writes a 1 kHz tone at −20 dBFS over a masked span when asked to', async () => {
    const { file, recorder, redaction, send } = setup({ fill: 'tone' });
    send(0, 1_000);
    redaction.mask('agent', 400, 600, 'dtmf');
    await recorder.close();
    const [, right] = read(file);
    const tone = right.subarray(at(200), at(800));
    expect(Math.max(...tone)).toBe(Math.round(32_767 * 0.1));
    // One cycle is 16 samples at 16 kHz: the tone repeats exactly.
    for (let i = 16; i < tone.length; i++) expect(tone[i]).toBe(tone[i - 16]);
    expect(right[at(199)]).toBe(sampleAt(1, at(199)));
  });

  it('fails closed: audio held past the maximum is written masked, and so is audio still unsettled at close', async () => {
    const { clock, file, recorder, send, hold } = setup({ maxHoldMs: 2_000 });
    hold(0); // the transcript never becomes final
    send(0, 5_000);
    await clock.advance(500);
    const info = await recorder.close();
    const [left, right] = read(file);
    expect(left.length).toBe(at(5_000));
    expect(left.every((s) => s === 0)).toBe(true);
    for (let i = 0; i < right.length; i += 997) expect(right[i]).toBe(sampleAt(1, i));
    expect(info.redaction).toEqual({ maskedMs: 0, withheldMs: 5_000 });
  });

  it('keeps memory bounded: a held leg never holds more than the maximum', async () => {
    const { clock, send, hold, recorder } = setup({ maxHoldMs: 2_000 });
    hold(0);
    // At each flush: between flushes the recorder takes in up to one flush interval more.
    for (let t = 0; t < 10_000; t += RECORDER_FLUSH_MS) {
      send(t, t + RECORDER_FLUSH_MS);
      await clock.advance(RECORDER_FLUSH_MS);
      expect(recorder.heldMs).toBeLessThanOrEqual(2_000);
    }
    await recorder.close();
  });

  it('merges masks, and bounds them per leg by widening rather than dropping', () => {
    const redaction = new AudioRedaction({ fill: 'silence', maxHoldMs: 1_000, marginMs: 0 });
    redaction.mask('caller', 100, 200, 'transcript');
    redaction.mask('caller', 150, 300, 'transcript');
    redaction.mask('caller', 500, 600, 'dtmf');
    const gate = redaction.gate('caller');
    expect(gate.masksBetween(0, 1_000)).toEqual([
      { startMs: 100, endMs: 300 },
      { startMs: 500, endMs: 600 },
    ]);
    for (let i = 0; i < 400; i++) redaction.mask('caller', 1_000 + i * 10, 1_000 + i * 10 + 5, 'dtmf');
    const masks = gate.masksBetween(0, 10_000);
    expect(masks.length).toBeLessThanOrEqual(256);
    // Every span asked for is still covered.
    for (let i = 0; i < 400; i++) {
      const s = 1_000 + i * 10;
      expect(masks.some((m) => m.startMs <= s && m.endMs >= s + 5)).toBe(true);
    }
    gate.forgetBefore(400);
    expect(gate.masksBetween(0, 400)).toEqual([]);
  });
});
