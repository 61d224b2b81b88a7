import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { mulawToPcm } from '../../src/audio/g711.js';
import { RECORDER_FLUSH_MS } from '../../src/recording/call-recorder.js';
import { eventually, type Gateway, startGateway } from '../helpers/gateway.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { demoCall, playDemo } from '../helpers/media.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
});

const greeting = demoCall('greeting');

/** RMS of samples [fromMs, toMs) of a channel at `rate`. */
function rms(samples: ArrayLike<number>, rate: number, fromMs: number, toMs: number): number {
  let sum = 0;
  const a = Math.floor((fromMs * rate) / 1000);
  const b = Math.floor((toMs * rate) / 1000);
  for (let i = a; i < b; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / (b - a));
}

async function record(format: 'mulaw' | 'pcm16') {
  gateway = await startGateway({ RECORDING_FORMAT: format });
  const result = await playDemo(gateway, 'greeting');
  const path = join(gateway.config.dataDir, 'recordings', `${result.callSid}.wav`);
  const response = await eventually(async () => {
    const r = await fetch(`${(gateway as Gateway).baseUrl}/v1/calls/${result.callSid}/recording`);
    const body = Buffer.from(await r.arrayBuffer());
    expect(r.status).toBe(200);
    return body;
  });
  const served = response;
  expect(served.equals(readFileSync(path))).toBe(true);
  return new WaveFile(served);
}

describe('call recording (parsed with the wavefile package)', () => {
  it('μ-law: two channels, caller left and agent right, byte for byte what each leg sent, as long as the call', async () => {
    const wav = await record('mulaw');
    expect(wav.fmt).toMatchObject({ audioFormat: 7, numChannels: 2, sampleRate: 8000 });
    const [left, right] = wav.getSamples(false, Uint8Array) as unknown as Uint8Array[];
    expect((left.length / 8000) * 1000).toBe(greeting.durationMs);
    expect(Buffer.from(left).equals(Buffer.from(greeting.caller))).toBe(true);
    expect(Buffer.from(right).equals(Buffer.from(greeting.agent))).toBe(true);
  });

  it('PCM16 at 16 kHz: each speaker on their own channel where the manifest places them', async () => {
    const wav = await record('pcm16');
    expect(wav.fmt).toMatchObject({ audioFormat: 1, numChannels: 2, sampleRate: 16000, bitsPerSample: 16 });
    const [left, right] = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
    expect((left.length / 16000) * 1000).toBe(greeting.durationMs);
    for (const s of greeting.segments) {
      const [speaking, silent] = s.leg === 'caller' ? [left, right] : [right, left];
      expect(rms(speaking, 16000, s.startMs, s.endMs)).toBeGreaterThan(300);
      expect(rms(silent, 16000, s.startMs, s.endMs)).toBeLessThan(30);
    }
    expect(mulawToPcm(greeting.caller).length * 2).toBe(left.length);
  });

  it('is a playable WAV on disk while the call runs, its header brought up to date at the first flush (what a crash would leave)', async () => {
    const clock = new ManualClock();
    gateway = await startGateway({ RECORDING_FORMAT: 'mulaw' }, [], { clock });
    const g = gateway;
    const playing = playDemo(g, 'greeting', { pace: 'realtime' });
    // Over a second of the caller's audio has reached the gateway; the call is still on.
    const call = await eventually(() => {
      const [live] = g.app.registry.live();
      expect(g.tap.frames(live.callSid, 'caller').length).toBeGreaterThan(60);
      return live;
    }, 10_000);
    const path = join(g.config.dataDir, 'recordings', `${call.callSid}.wav`);
    const inFile = () =>
      (new WaveFile(readFileSync(path)).getSamples(false, Uint8Array) as unknown as Uint8Array[])[0];
    expect(inFile().length).toBe(0); // nothing is written before the flush timer runs
    await clock.advance(RECORDER_FLUSH_MS); // the recorder's flush timer runs
    expect(g.app.registry.live()).toContain(call);
    // The flush's write lands on disk asynchronously: wait for it, not for a fixed time.
    const left = await eventually(() => {
      const samples = inFile();
      expect(samples.length).toBeGreaterThan(8_000); // more than a second is already in the file
      return samples;
    });
    expect(Buffer.from(left).equals(Buffer.from(greeting.caller.subarray(0, left.length)))).toBe(true);
    await playing;
  }, 15_000);

  it('answers 404 with a code for a call that has no recording', async () => {
    gateway = await startGateway({ RECORDING_FORMAT: 'none' });
    const result = await playDemo(gateway, 'greeting');
    const response = await fetch(`${gateway.baseUrl}/v1/calls/${result.callSid}/recording`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'VL_ERR_RECORDING_NOT_FOUND',
    );
  });
});
