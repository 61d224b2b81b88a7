import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { HEADER_REWRITE_MS, WavWriter } from '../../src/recording/wav-writer.js';

/** Stereo PCM16 at 16 kHz: 64,000 data bytes a second; the canonical header's data size is at 40. */
const SECOND = 64_000;
const headerDataBytes = (path: string) => readFileSync(path).readUInt32LE(40);

describe('WavWriter header cadence (a write per flush, the header only now and then)', () => {
  it('brings the header up to date with the first audio, every HEADER_REWRITE_MS of audio, and at close', async () => {
    expect(HEADER_REWRITE_MS).toBe(5_000);
    const path = join(mkdtempSync(join(tmpdir(), 'voxline-wav-')), 'call.wav');
    const writer = new WavWriter(path, 'pcm16', 2);
    writer.append(Buffer.alloc(SECOND, 1));
    await expect.poll(() => headerDataBytes(path)).toBe(SECOND); // the first flush: playable at once
    for (let s = 2; s <= 7; s++) writer.append(Buffer.alloc(SECOND, s));
    // All 7 s are on disk; the header counts the 5 s it was last rewritten at: a crash now leaves a
    // file that plays 5 s, with 2 s more after it.
    await expect.poll(() => statSync(path).size).toBe(44 + 7 * SECOND);
    expect(headerDataBytes(path)).toBe(5 * SECOND);
    await writer.close();
    expect(headerDataBytes(path)).toBe(7 * SECOND);
    const wav = new WaveFile(readFileSync(path));
    const [left] = wav.getSamples(false, Int16Array) as unknown as Int16Array[];
    expect(left.length).toBe(7 * 16_000);
  });
});
