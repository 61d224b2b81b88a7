import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Keyring } from '../../src/crypto/keyring.js';
import { SealedFileWriter } from '../../src/crypto/sealed-file.js';
import { MAX_SEGMENT_BYTES } from '../../src/crypto/sealed-file-format.js';
import { type OpenSealedOptions, openSealedFile } from '../../src/crypto/sealed-file-reader.js';
import { bufferSource } from '../../src/crypto/sealed-source.js';
import { type ErrorCode, VoxlineError } from '../../src/errors.js';
import { keyringOf, keyValue } from './support/keys.js';

const CONTEXT = 'recording:CA0123';

/** A sealed file of `segments` then `final`, and each part's bytes (header, frames, final + trailer). */
function sealFile(keyring: Keyring, segments: Buffer[], final: Buffer, context = CONTEXT) {
  const writer = new SealedFileWriter(keyring, context);
  const frames = segments.map((s) => writer.segment(s));
  const end = writer.finish(final);
  return { header: writer.header, frames, end, bytes: Buffer.concat([writer.header, ...frames, end]) };
}

async function readAll(bytes: Buffer, keyring: Keyring, options: OpenSealedOptions = {}) {
  const file = await openSealedFile(bufferSource(bytes), keyring, options);
  const segments: Buffer[] = [];
  for await (const segment of file.segments()) segments.push(segment);
  return { file, segments };
}

async function codeOf(run: () => Promise<unknown>): Promise<ErrorCode | 'opened'> {
  try {
    await run();
    return 'opened';
  } catch (err) {
    if (!(err instanceof VoxlineError)) throw err;
    return err.code;
  }
}

const parts = () => [randomBytes(1000), randomBytes(1), randomBytes(4096)];

describe('sealed file: round trip', () => {
  it('gives back every segment and the final one, in order, with the master key id', async () => {
    const keyring = keyringOf(keyValue('k1'));
    const segments = parts();
    const final = Buffer.from('the end');
    const { bytes } = sealFile(keyring, segments, final);
    const { file, segments: read } = await readAll(bytes, keyring);
    expect(read).toEqual(segments);
    expect(file.final).toEqual(final);
    expect(file).toMatchObject({ keyId: 'k1', context: CONTEXT, count: 3 });
    // The same bound context, asked for, opens too; the segments can be read twice.
    const again = await readAll(bytes, keyring, { context: CONTEXT });
    expect(again.segments).toEqual(segments);
  });

  it('an empty file (no segments, an empty final one) opens as empty', async () => {
    const keyring = keyringOf(keyValue('k1'));
    const { bytes } = sealFile(keyring, [], Buffer.alloc(0));
    const { file, segments } = await readAll(bytes, keyring);
    expect(segments).toEqual([]);
    expect(file.final).toEqual(Buffer.alloc(0));
    expect(file.count).toBe(0);
  });

  it('a large append is split into bounded segments and comes back whole', async () => {
    const keyring = keyringOf(keyValue('k1'));
    const big = randomBytes(2 * MAX_SEGMENT_BYTES + 12_345);
    const { bytes, frames } = sealFile(keyring, [big, randomBytes(10)], Buffer.alloc(0));
    const { file, segments } = await readAll(bytes, keyring);
    expect(file.count).toBe(4); // 3 pieces of the big append, then the small one
    expect(Math.max(...segments.map((s) => s.length))).toBe(MAX_SEGMENT_BYTES);
    expect(Buffer.concat(segments.slice(0, 3)).equals(big)).toBe(true);
    expect(frames[0].length).toBeGreaterThan(big.length);
  });
});

describe('sealed file: tampering', () => {
  const keyring = keyringOf(keyValue('k1'));
  const segments = [randomBytes(40), randomBytes(41), randomBytes(42)];
  const sealed = sealFile(keyring, segments, Buffer.from('final'));

  it('any single changed byte is refused with a code, never read as other data', async () => {
    const codes = new Map<string, number>();
    for (let at = 0; at < sealed.bytes.length; at++) {
      const bytes = Buffer.from(sealed.bytes);
      bytes[at] ^= 0x01;
      const code = await codeOf(() => readAll(bytes, keyring));
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(codes.get('opened')).toBeUndefined();
    // A changed key id names a key that is not configured; a changed trailer magic reads as a cut.
    expect([...codes.keys()].sort()).toEqual([
      'VL_ERR_DECRYPTION',
      'VL_ERR_ENCRYPTION_KEY',
      'VL_ERR_SEALED_TRUNCATED',
    ]);
    expect(codes.get('VL_ERR_SEALED_TRUNCATED')).toBe(4);
  });

  it('a dropped, reordered or repeated segment does not open', async () => {
    const [a, b, c] = sealed.frames;
    const variants = {
      dropFirst: [b, c],
      dropMiddle: [a, c],
      dropLast: [a, b],
      reorder: [a, c, b],
      repeat: [a, b, b, c],
      repeatLast: [a, b, c, c],
    };
    for (const [name, frames] of Object.entries(variants)) {
      const bytes = Buffer.concat([sealed.header, ...frames, sealed.end]);
      expect(await codeOf(() => readAll(bytes, keyring)), name).toBe('VL_ERR_DECRYPTION');
    }
  });

  it('a segment from another file (same key, same context) does not open in this one', async () => {
    const other = sealFile(keyring, segments, Buffer.from('final'));
    const bytes = Buffer.concat([
      sealed.header,
      sealed.frames[0],
      other.frames[1],
      sealed.frames[2],
      sealed.end,
    ]);
    expect(await codeOf(() => readAll(bytes, keyring))).toBe('VL_ERR_DECRYPTION');
  });

  it('a file cut anywhere is VL_ERR_SEALED_TRUNCATED, not a shorter file', async () => {
    for (let length = 0; length < sealed.bytes.length; length++) {
      const code = await codeOf(() => readAll(sealed.bytes.subarray(0, length), keyring));
      expect(code, `cut at ${length}`).toBe('VL_ERR_SEALED_TRUNCATED');
    }
  });

  it('partial: a cut file gives the segments before the cut, each authenticated', async () => {
    const starts = [sealed.header.length];
    for (const frame of sealed.frames) starts.push((starts.at(-1) as number) + frame.length);
    for (let length = sealed.header.length; length < sealed.bytes.length; length++) {
      const { file, segments: read } = await readAll(sealed.bytes.subarray(0, length), keyring, {
        partial: true,
      });
      const whole = starts.filter((end, i) => i > 0 && end <= length).length;
      expect(file.final).toBeUndefined();
      expect(read, `cut at ${length}`).toEqual(segments.slice(0, whole));
    }
    // Cut inside the header: nothing to recover.
    expect(await codeOf(() => readAll(sealed.bytes.subarray(0, 30), keyring, { partial: true }))).toBe(
      'VL_ERR_SEALED_TRUNCATED',
    );
    // A whole file, partial: all of it.
    const { file, segments: all } = await readAll(sealed.bytes, keyring, { partial: true });
    expect(all).toEqual(segments);
    expect(file.final?.toString()).toBe('final');
  });

  it('partial: a changed segment ends the walk there, without an error', async () => {
    const bytes = Buffer.from(sealed.bytes);
    bytes[sealed.header.length + sealed.frames[0].length + 30] ^= 0xff; // inside segment 1
    const { segments: read } = await readAll(bytes, keyring, { partial: true });
    expect(read).toEqual(segments.slice(0, 1));
  });
});

describe('sealed file: keys', () => {
  it('after a rotation a file sealed under the retired key still opens; new files use the new key', async () => {
    const k1 = keyValue('k1');
    const before = keyringOf(k1);
    const { bytes } = sealFile(before, [Buffer.from('old audio')], Buffer.alloc(0));
    const rotated = keyringOf(keyValue('k2'), k1);
    const { file, segments } = await readAll(bytes, rotated);
    expect(file.keyId).toBe('k1');
    expect(segments[0].toString()).toBe('old audio');
    expect(new SealedFileWriter(rotated, CONTEXT).keyId).toBe('k2');
  });

  it('without the key that sealed it: VL_ERR_ENCRYPTION_KEY; a different key under the same id: VL_ERR_DECRYPTION', async () => {
    const { bytes } = sealFile(keyringOf(keyValue('k1')), parts(), Buffer.alloc(0));
    const missing = await codeOf(() => readAll(bytes, keyringOf(keyValue('k2'))));
    expect(missing).toBe('VL_ERR_ENCRYPTION_KEY');
    expect(await codeOf(() => readAll(bytes, keyringOf(keyValue('k1'))))).toBe('VL_ERR_DECRYPTION');
  });

  it('opened as another call’s recording: VL_ERR_DECRYPTION (the data key is bound to its call)', async () => {
    const keyring = keyringOf(keyValue('k1'));
    const { bytes } = sealFile(keyring, parts(), Buffer.alloc(0));
    expect(await codeOf(() => readAll(bytes, keyring, { context: 'recording:CAother' }))).toBe(
      'VL_ERR_DECRYPTION',
    );
  });

  it('bytes that are not a sealed file (a WAV) are VL_ERR_DECRYPTION', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), randomBytes(100)]);
    expect(await codeOf(() => readAll(wav, keyringOf(keyValue('k1'))))).toBe('VL_ERR_DECRYPTION');
  });
});
