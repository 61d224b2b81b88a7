import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import {
  eventually,
  type Gateway,
  mediaMessage,
  openMediaSocket,
  startGateway,
  startMessage,
} from '../helpers/gateway.js';

/**
 * A carrier timestamp that jumps far ahead: the leg's aligner skips the jump (longer than
 * MAX_GAP_FILL_MS), so the recording must not write it either, and a timestamp out of any sane
 * range is refused at the leg and counted, never thrown into a consumer.
 */

const FRAME_MS = 20;
const FRAME_BYTES = 160;
const MULAW_HEADER = 58;
const MULAW_STEREO_BYTES_PER_S = 8_000 * 2;
const TEN_HOURS_MS = 10 * 3_600_000;
/** The largest timestamp a Twilio media message can carry (15 digits). */
const LARGEST_TWILIO_MS = 999_999_999_999_999;

let nextCall = 0;
const newCallSid = () => `CAjump${String(++nextCall).padStart(28, '0')}`;
/** Frame i carries the byte 0x10 + i mod 200, so the recording can be read back frame by frame. */
const frame = (i: number) => new Uint8Array(FRAME_BYTES).fill(0x10 + (i % 200));

interface Sent {
  readonly track: 'inbound' | 'outbound';
  readonly timestampMs: number;
  readonly index: number;
}

/** Plays a two-track call of hand-made media messages, then stop; returns once voxline closed. */
async function playCall(gateway: Gateway, messages: readonly Sent[]) {
  const callSid = newCallSid();
  const raw = await openMediaSocket(gateway);
  let sequence = 1;
  raw.send(startMessage(callSid));
  for (const m of messages)
    raw.send(mediaMessage(callSid, ++sequence, m.track, m.timestampMs, frame(m.index)));
  raw.send({
    event: 'stop',
    sequenceNumber: String(++sequence),
    streamSid: `MZ${callSid.slice(2)}`,
    stop: { accountSid: 'ACtest', callSid },
  });
  const closed = await raw.closed;
  const path = join(gateway.config.dataDir, 'recordings', `${callSid}.wav`);
  // Served only once the file is complete.
  await eventually(async () => {
    const r = await fetch(`${gateway.baseUrl}/v1/calls/${callSid}/recording`);
    await r.arrayBuffer();
    expect(r.status).toBe(200);
  });
  return { callSid, closed, path };
}

/** `count` frames of one track from `fromMs`, 20 ms apart, numbered from `firstIndex`. */
function run(track: Sent['track'], fromMs: number, count: number, firstIndex = 0): Sent[] {
  return Array.from({ length: count }, (_, i) => ({
    track,
    timestampMs: fromMs + i * FRAME_MS,
    index: firstIndex + i,
  }));
}

/** The μ-law bytes frames [0, count) of `frame()` make. */
function expectedChannel(count: number): Uint8Array {
  const out = new Uint8Array(count * FRAME_BYTES);
  for (let i = 0; i < count; i++) out.set(frame(i), i * FRAME_BYTES);
  return out;
}

describe('recording across a media timestamp jump', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway({ RECORDING_FORMAT: 'mulaw' });
  });
  afterAll(() => gateway.close());

  it('a 10 h jump on one track is skipped in the file too: 1 s + 1 s of audio is a 2 s WAV', async () => {
    const messages = [
      ...run('inbound', 0, 50),
      ...run('outbound', 0, 50),
      ...run('inbound', TEN_HOURS_MS, 50, 50), // the caller's clock jumps 10 h
      ...run('outbound', 1_000, 50, 50),
    ];
    const { callSid, closed, path } = await playCall(gateway, messages);
    expect(closed.code).toBe(1000);
    const details = await gateway.call(callSid);
    expect(details).toMatchObject({ state: 'ended', endReason: 'stop' });
    const caller = details.legs.find((l) => l.label === 'caller')!;
    expect(caller).toMatchObject({ audioSeconds: 2, skippedMs: TEN_HOURS_MS - 1_000, gapFilledMs: 0 });

    // 2 s of two-channel μ-law plus the header; a padded jump would be 576 MB.
    expect(statSync(path).size).toBeLessThanOrEqual(MULAW_HEADER + 2 * MULAW_STEREO_BYTES_PER_S + 1_600);
    const wav = new WaveFile(readFileSync(path));
    const [left, right] = wav.getSamples(false, Uint8Array) as unknown as Uint8Array[];
    expect(Buffer.from(left).equals(Buffer.from(expectedChannel(100)))).toBe(true);
    expect(Buffer.from(right).equals(Buffer.from(expectedChannel(100)))).toBe(true);
    expect(gateway.logs.some((l) => l.msg === 'leg consumer failed' && l.callSid === callSid)).toBe(false);
  });

  it('the largest Twilio timestamp (~10^15 ms) is refused and counted: no consumer error, the call and file complete', async () => {
    const messages = [
      ...run('inbound', 0, 50),
      ...run('outbound', 0, 100),
      { track: 'inbound' as const, timestampMs: LARGEST_TWILIO_MS, index: 199 },
      ...run('inbound', 1_000, 50, 50),
    ];
    const { callSid, closed, path } = await playCall(gateway, messages);
    expect(closed.code).toBe(1000);
    const details = await gateway.call(callSid);
    expect(details).toMatchObject({ state: 'ended', endReason: 'stop' });
    const caller = details.legs.find((l) => l.label === 'caller')!;
    expect(caller).toMatchObject({
      framesReceived: 101,
      audioSeconds: 2,
      framesDropped: 1,
      badTimestamps: 1,
      droppedMs: FRAME_MS,
      skippedMs: 0,
      positionMs: 2_000,
    });
    expect(gateway.logs.some((l) => l.msg === 'leg consumer failed' && l.callSid === callSid)).toBe(false);
    expect(statSync(path).size).toBe(MULAW_HEADER + 2 * MULAW_STEREO_BYTES_PER_S);
  });
});
