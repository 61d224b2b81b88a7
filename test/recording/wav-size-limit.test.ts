import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { WavWriter } from '../../src/recording/wav-writer.js';

describe('WavWriter at the WAV size limit', () => {
  it('keeps what fits and marks the file truncated: no throw, and the file parses with the sizes of what was kept', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'voxline-wav-')), 'long.wav');
    // A limit of 1,000 data bytes stands in for 4 GiB (the real limit is too big for a test).
    const writer = new WavWriter(path, 'mulaw', 2, 1000);
    writer.append(Buffer.alloc(600, 0x7f));
    writer.append(Buffer.alloc(600, 0x7f));
    writer.append(Buffer.alloc(10, 0x7f));
    expect(writer.truncated).toBe(true);
    expect(writer.dataBytes).toBe(600);
    const { bytes } = await writer.close();
    const wav = new WaveFile(readFileSync(path));
    expect(bytes).toBe(58 + 600);
    expect((wav.data as { chunkSize: number }).chunkSize).toBe(600);
  });
});
