import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WaveFile } from 'wavefile';
import { pcmToMulaw } from '../../src/audio/g711.js';
import { decodeWav } from '../../src/audio/wav.js';
import { bufferSource } from '../../src/crypto/sealed-source.js';
import { isVoxlineError } from '../../src/errors.js';
import { openSealedRecording, recordingContext } from '../../src/recording/sealed-recording.js';
import { SealedWavWriter } from '../../src/recording/sealed-wav-writer.js';
import type { RecordingFormat } from '../../src/recording/wav-format.js';
import type { WavMark } from '../../src/recording/wav-markers.js';
import { WavWriter } from '../../src/recording/wav-writer.js';
import { keyringOf, keyValue } from '../crypto/support/keys.js';
import { eventually } from '../helpers/gateway.js';
import { wavMarkers } from './support/riff.js';

const keyring = keyringOf(keyValue('k1'));
const sealing = { keyring, context: recordingContext('CA1') };
const MARKS: WavMark[] = [
  { startMs: 120, endMs: 480, label: 'paused by api' },
  { startMs: 700, endMs: null, label: 'paused by parameter' },
];
const dir = () => mkdtempSync(join(tmpdir(), 'voxline-sealed-'));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Appends like the recorder's flushes (500 ms each, then a short last one), of a voice-like signal:
 * a 300 Hz tone under a slow swell, stereo, as PCM16 or μ-law bytes.
 */
function appends(format: RecordingFormat): Buffer[] {
  const rate = format === 'pcm16' ? 16_000 : 8_000;
  const sizes = [rate / 2, rate / 2, rate / 2, 1_234];
  let t = 0;
  return sizes.map((frames) => {
    const pcm = new Int16Array(frames * 2);
    for (let i = 0; i < frames; i++, t++) {
      const s = Math.round(
        9_000 * Math.sin((2 * Math.PI * 300 * t) / rate) * (0.6 + 0.4 * Math.sin(t / rate)),
      );
      pcm[2 * i] = s;
      pcm[2 * i + 1] = -s >> 1;
    }
    return format === 'pcm16' ? Buffer.from(pcm.buffer) : Buffer.from(pcmToMulaw(pcm));
  });
}

async function writeBoth(format: RecordingFormat, parts: Buffer[], marks: WavMark[] = MARKS) {
  const at = dir();
  const clear = new WavWriter(join(at, 'clear.wav'), format, 2);
  const sealed = new SealedWavWriter(join(at, 'sealed.wav'), format, 2, sealing);
  for (const part of parts) {
    clear.append(part);
    sealed.append(part);
  }
  return {
    clear: { path: clear.path, written: await clear.close(marks) },
    sealed: { path: sealed.path, written: await sealed.close(marks) },
  };
}

async function decrypt(bytes: Buffer, partial = false) {
  const recording = await openSealedRecording(bufferSource(bytes), keyring, { partial });
  const chunks: Buffer[] = [];
  for await (const chunk of recording.wav()) chunks.push(chunk as Buffer);
  return { recording, wav: Buffer.concat(chunks) };
}

/** Shannon entropy of the bytes, in bits per byte (8: indistinguishable from random). */
function entropy(bytes: Buffer): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]++;
  return -counts.reduce(
    (sum, n) => (n === 0 ? sum : sum + (n / bytes.length) * Math.log2(n / bytes.length)),
    0,
  );
}

/** Where the final segment starts: what a crash right after the last flush leaves the file cut at. */
function finalOffset(sealed: Buffer): number {
  return sealed.length - 12 - sealed.readUInt32BE(sealed.length - 8) - 4;
}

describe.each(['pcm16', 'mulaw'] as const)('SealedWavWriter (%s)', (format) => {
  it('decrypts to the very bytes the clear writer writes for the same appends, markers included', async () => {
    const parts = appends(format);
    const { clear, sealed } = await writeBoth(format, parts);
    const clearBytes = readFileSync(clear.path);
    const sealedBytes = readFileSync(sealed.path);
    const { recording, wav } = await decrypt(sealedBytes);
    expect(wav.equals(clearBytes)).toBe(true);
    expect(recording).toMatchObject({
      keyId: 'k1',
      format,
      channels: 2,
      complete: true,
      bytes: clearBytes.length,
    });
    // The WAV's sha256 and size are the clear file's; the sealed file's own are reported beside them.
    expect(sealed.written).toEqual({
      sha256: clear.written.sha256,
      bytes: clear.written.bytes,
      sealed: { keyId: 'k1', sha256: sha256(sealedBytes), bytes: sealedBytes.length },
    });
    expect(clear.written.sha256).toBe(sha256(clearBytes));
    expect(wavMarkers(wav).labels.map((l) => l.text)).toEqual(['paused by api', 'paused by parameter']);
    expect(new WaveFile(wav).fmt).toMatchObject({ numChannels: 2, audioFormat: format === 'pcm16' ? 1 : 7 });
  });

  it('without marks, and with no audio at all, still the clear writer’s bytes', async () => {
    for (const parts of [appends(format), []]) {
      const { clear, sealed } = await writeBoth(format, parts, []);
      const { wav } = await decrypt(readFileSync(sealed.path));
      expect(wav.equals(readFileSync(clear.path))).toBe(true);
    }
  });

  it('on disk it is not audio: no RIFF header, no 32-byte run of the samples written, random-looking bytes', async () => {
    const parts = appends(format);
    const { clear, sealed } = await writeBoth(format, parts);
    const onDisk = readFileSync(sealed.path);
    expect(onDisk.subarray(0, 7).toString('latin1')).toBe('VXREC1\0');
    for (const word of ['RIFF', 'WAVE', 'fmt ', 'cue ', 'paused by'])
      expect(onDisk.includes(word)).toBe(false);
    // Every 64-byte run of the audio holds an aligned 32-byte block: none of those is in the file.
    const audio = Buffer.concat(parts);
    for (let at = 0; at + 32 <= audio.length; at += 32) {
      expect(onDisk.indexOf(audio.subarray(at, at + 32))).toBe(-1);
    }
    const body = onDisk.subarray(200);
    expect(entropy(body)).toBeGreaterThan(7.99);
    expect(entropy(readFileSync(clear.path))).toBeLessThan(7.6); // the clear file, for contrast
  });

  it('a crash after some flushes: --partial recovers every flushed segment, under a header giving their sizes', async () => {
    const parts = appends(format);
    const { sealed } = await writeBoth(format, parts, MARKS);
    const whole = readFileSync(sealed.path);
    const cut = finalOffset(whole);

    // A writer that was never closed (the process died): the file once its flushes have landed.
    const crashed = new SealedWavWriter(join(dir(), 'crashed.wav'), format, 2, sealing);
    for (const part of parts) crashed.append(part);
    const left = await eventually(() => {
      const bytes = readFileSync(crashed.path);
      expect(bytes.length).toBe(cut); // the same sizes as the closed twin, less its final segment
      return bytes;
    });
    await crashed.close(); // (only to release the handle; the copy above is what a crash leaves)

    // What the clear writer leaves at its last flush: the same header and data, no markers.
    const expected = await clearWav(format, parts);
    await expect(decrypt(left)).rejects.toSatisfy((e) => isVoxlineError(e, 'VL_ERR_SEALED_TRUNCATED'));
    const recovered = await decrypt(left, true);
    expect(recovered.recording.complete).toBe(false);
    expect(recovered.wav.equals(expected)).toBe(true);
    expect(decodeWav(recovered.wav).channels[0].length).toBe(
      Buffer.concat(parts).length / (format === 'pcm16' ? 4 : 2),
    );

    // Cut inside the last data segment: the segments before it.
    const lastStart = cut - (4 + 28 + (parts.at(-1) as Buffer).length);
    const shorter = await decrypt(whole.subarray(0, lastStart + 10), true);
    expect(shorter.wav.equals(await clearWav(format, parts.slice(0, -1)))).toBe(true);
  });

  it('at the WAV size limit, keeps what fits and stays a valid sealed WAV', async () => {
    const path = join(dir(), 'long.wav');
    const writer = new SealedWavWriter(path, format, 2, sealing, 1_000);
    writer.append(Buffer.alloc(600, 0x11));
    writer.append(Buffer.alloc(600, 0x11));
    expect(writer.truncated).toBe(true);
    const { bytes } = await writer.close();
    const { wav } = await decrypt(readFileSync(path));
    expect(wav.length).toBe(bytes);
    expect((new WaveFile(wav).data as { chunkSize: number }).chunkSize).toBe(600);
  });
});

/** The clear writer's file for `parts`, without markers. */
async function clearWav(format: RecordingFormat, parts: Buffer[]): Promise<Buffer> {
  const writer = new WavWriter(join(dir(), 'clear.wav'), format, 2);
  for (const part of parts) writer.append(part);
  await writer.close();
  return readFileSync(writer.path);
}
