import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { decodeWav } from '../../src/audio/wav.js';
import { pauseMarks } from '../../src/recording/wav-markers.js';
import { WavWriter } from '../../src/recording/wav-writer.js';
import { riffChunks, wavMarkers } from './support/riff.js';

const HAS_SOX = spawnSync('sox', ['--version']).status === 0;
const file = (name: string) => join(mkdtempSync(join(tmpdir(), 'voxline-markers-')), name);

/** 1 s of stereo PCM16 at 16 kHz: a ramp, so every sample is told apart. */
const second = () => {
  const pcm = new Int16Array(16_000 * 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = (i * 7) % 30_000;
  return Buffer.from(pcm.buffer);
};

describe('pause markers in the WAV (cue + LIST/adtl ltxt and labl)', () => {
  it('each pause is a cue point at its sample frame, a region as long as it lasted, labelled by who paused', async () => {
    const path = file('paused.wav');
    const writer = new WavWriter(path, 'pcm16', 2);
    const audio = second();
    writer.append(audio);
    const marks = pauseMarks([
      { startMs: 250, endMs: 750, by: 'api' },
      { startMs: 900, endMs: null, by: 'parameter' }, // still paused when the call ended
    ]);
    const { bytes } = await writer.close(marks);
    const wav = readFileSync(path);
    expect(bytes).toBe(wav.length);

    // After the data chunk, counted by the RIFF size (riffChunks checks it is the file's).
    expect(riffChunks(wav).map((c) => c.id)).toEqual(['fmt ', 'data', 'cue ', 'LIST']);
    expect(wavMarkers(wav)).toEqual({
      cues: [
        { id: 1, position: 4_000, chunk: 'data', sampleOffset: 4_000 },
        { id: 2, position: 14_400, chunk: 'data', sampleOffset: 14_400 },
      ],
      regions: [
        { id: 1, length: 8_000, purpose: 'rgn ' },
        { id: 2, length: 1_600, purpose: 'rgn ' }, // to the end of the recording
      ],
      labels: [
        { id: 1, text: 'paused by api' },
        { id: 2, text: 'paused by parameter' },
      ],
    });

    // Still a WAV every reader takes, the audio unchanged: the repo's decoder, wavefile, and sox.
    const decoded = decodeWav(wav);
    expect(decoded.sampleRate).toBe(16_000);
    expect(decoded.channels[0].length).toBe(16_000);
    expect(decoded.channels[1][5]).toBe((11 * 7) % 30_000);
    const parsed = new WaveFile(wav);
    expect(Buffer.from((parsed.data as { samples: Uint8Array }).samples).equals(audio)).toBe(true);
    expect(parsed.listCuePoints().map((p) => (p as { label: string }).label)).toEqual([
      'paused by api',
      'paused by parameter',
    ]);
  });

  // sox is not in every CI image: where it is, it reads the file without a warning.
  it.skipIf(!HAS_SOX)('sox reads a WAV with markers without complaint', async () => {
    const path = file('sox.wav');
    const writer = new WavWriter(path, 'pcm16', 2);
    writer.append(second());
    await writer.close(pauseMarks([{ startMs: 250, endMs: 750, by: 'api' }]));
    expect(execFileSync('soxi', ['-s', path]).toString().trim()).toBe('16000');
    const stat = spawnSync('sox', [path, '-n', 'stat'], { encoding: 'utf8' });
    expect(stat.status).toBe(0);
    expect(stat.stderr).toMatch(/Samples read:\s+32000/);
    expect(stat.stderr).not.toMatch(/WARN|FAIL/);
  });

  it('an odd-sized data chunk gets its pad byte before the markers; marks outside the audio are clamped', async () => {
    const path = file('odd.wav');
    const writer = new WavWriter(path, 'mulaw', 1);
    writer.append(Buffer.alloc(8_001, 0x55)); // 1.000125 s of mono μ-law
    await writer.close([
      { startMs: -50, endMs: 10, label: 'early' },
      { startMs: 5_000, endMs: 6_000, label: 'past the end' },
      { startMs: 500, endMs: 400, label: 'backwards' },
    ]);
    const wav = readFileSync(path);
    expect(riffChunks(wav).map((c) => c.id)).toEqual(['fmt ', 'fact', 'data', 'cue ', 'LIST']);
    const { cues, regions } = wavMarkers(wav);
    expect(cues.map((c) => c.sampleOffset)).toEqual([0, 8_001, 4_000]);
    expect(regions.map((r) => r.length)).toEqual([80, 0, 0]);
    expect(decodeWav(wav).channels[0].length).toBe(8_001);
  });

  it('without pauses the WAV is the plain one: no marker chunks', async () => {
    const path = file('plain.wav');
    const writer = new WavWriter(path, 'pcm16', 2);
    writer.append(second());
    const { bytes } = await writer.close(pauseMarks([]));
    expect(bytes).toBe(44 + 64_000);
    expect(riffChunks(readFileSync(path)).map((c) => c.id)).toEqual(['fmt ', 'data']);
  });

  it('a label is UTF-8, cut on a character boundary when long, and never holds a NUL', async () => {
    const path = file('labels.wav');
    const writer = new WavWriter(path, 'pcm16', 2);
    writer.append(second());
    await writer.close([
      { startMs: 0, endMs: 100, label: `paused by ${'é'.repeat(100)}` },
      { startMs: 0, endMs: 100, label: 'a\0b' },
    ]);
    const [long, nul] = wavMarkers(readFileSync(path)).labels;
    expect(Buffer.byteLength(long.text)).toBeLessThanOrEqual(80);
    expect(long.text).toMatch(/^paused by é+$/);
    expect(nul.text).toBe('a b');
  });
});
