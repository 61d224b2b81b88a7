import { describe, expect, it } from 'vitest';
import { mulawToPcm } from '../../src/audio/g711.js';
import { parseWav, peaks, WavError } from '../../src/console/web/recording/wav.js';

describe("the console's WAV reader (waveforms)", () => {
  it('reads a stereo PCM16 file per channel, and its peaks', () => {
    const frames = 1600;
    const left = Int16Array.from({ length: frames }, (_, i) => (i < 800 ? 16_384 : 0));
    const right = Int16Array.from({ length: frames }, (_, i) => (i < 800 ? 0 : -32_768));
    const interleaved = new Int16Array(frames * 2);
    for (let i = 0; i < frames; i++) {
      interleaved[2 * i] = left[i];
      interleaved[2 * i + 1] = right[i];
    }
    const bytes = wavBytes(1, 16, 2, 16_000, Buffer.from(interleaved.buffer));
    const wav = parseWav(bytes);
    expect(wav).toMatchObject({ format: 'pcm16', channels: 2, sampleRate: 16_000, frames, durationMs: 100 });
    expect(Array.from(peaks(wav, 0, 2))).toEqual([0.5, 0]);
    expect(Array.from(peaks(wav, 1, 2))).toEqual([0, 1]);
  });

  it("decodes μ-law exactly as voxline's G.711 decoder does", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const wav = parseWav(wavBytes(7, 8, 1, 8_000, Buffer.from(all)));
    const expected = mulawToPcm(all);
    for (let i = 0; i < 256; i++) expect(wav.sample(0, i) * 32768).toBe(expected[i]);
  });

  it('reads a file cut short, and refuses what is not a WAV', () => {
    const pcm = new Int16Array(160).fill(1000);
    const full = Buffer.from(wavBytes(1, 16, 1, 8_000, Buffer.from(pcm.buffer)));
    expect(parseWav(full.subarray(0, full.length - 100).buffer.slice(0, full.length - 100)).frames).toBe(110);
    expect(() => parseWav(new TextEncoder().encode('hello world, not audio').buffer)).toThrow(WavError);
  });
});

function wavBytes(code: number, bits: number, channels: number, rate: number, data: Buffer): ArrayBuffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(code, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE((rate * channels * bits) / 8, 28);
  header.writeUInt16LE((channels * bits) / 8, 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  const out = Buffer.concat([header, data]);
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
}
