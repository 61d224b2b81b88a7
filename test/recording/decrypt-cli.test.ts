import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordingContext } from '../../src/recording/sealed-recording.js';
import { SealedWavWriter } from '../../src/recording/sealed-wav-writer.js';
import { WavWriter } from '../../src/recording/wav-writer.js';
import { keyringOf, keyValue } from '../crypto/support/keys.js';
import { runCli } from '../helpers/cli.js';

/** npm run recording:decrypt, spawned as npm runs it (tsx), with only the environment given. */

const K1 = keyValue('k1');
const K2 = keyValue('k2');
const PARTS = [Buffer.alloc(8_000, 0x21), Buffer.alloc(8_000, 0x42), Buffer.alloc(3_000, 0x63)];
const MARKS = [{ startMs: 100, endMs: 600, label: 'paused by api' }];

const decrypt = (args: string[], env: Record<string, string> = {}) =>
  runCli('src/recording/decrypt-recording.ts', args, { env });

/** A μ-law recording sealed under `key`, and the clear writer's file for the same appends. */
async function recording(key: string, marks = MARKS) {
  const dir = mkdtempSync(join(tmpdir(), 'voxline-cli-'));
  const sealed = new SealedWavWriter(join(dir, 'CA1.wav'), 'mulaw', 2, {
    keyring: keyringOf(key),
    context: recordingContext('CA1'),
  });
  const clear = new WavWriter(join(dir, 'clear.wav'), 'mulaw', 2);
  for (const part of PARTS) {
    sealed.append(part);
    clear.append(part);
  }
  await Promise.all([sealed.close(marks), clear.close(marks)]);
  return { dir, sealed: sealed.path, clear: readFileSync(clear.path) };
}

describe('npm run recording:decrypt', () => {
  it('writes the WAV of a file sealed under a retired key, and says what it wrote, never a key', async () => {
    const { dir, sealed, clear } = await recording(K1);
    const out = join(dir, 'out.wav');
    const run = await decrypt([sealed, out], { ENCRYPTION_KEY: K2, ENCRYPTION_RETIRED_KEYS: K1 });
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(out).equals(clear)).toBe(true);
    expect(run.stderr).toMatch(/wrote .*out\.wav: mulaw, 2 channels, 1\.2 s, \d+ bytes; key k1/);
    for (const key of [K1, K2]) expect(run.stderr + run.stdout).not.toContain(key.slice(3));
  }, 30_000);

  it('a cut file: exit 3 pointing at --partial, which recovers the audio before the cut', async () => {
    const { dir, sealed } = await recording(K1);
    const whole = readFileSync(sealed);
    const cutAt = whole.length - 12 - whole.readUInt32BE(whole.length - 8) - 4; // the final segment gone
    const cut = join(dir, 'cut.wav');
    writeFileSync(cut, whole.subarray(0, cutAt));

    const refused = await decrypt([cut, join(dir, 'a.wav')], { ENCRYPTION_KEY: K1 });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('no final segment');
    expect(refused.stderr).toContain('--partial');
    expect(existsSync(join(dir, 'a.wav'))).toBe(false);

    const recovered = await decrypt([cut, join(dir, 'b.wav'), '--partial'], { ENCRYPTION_KEY: K1 });
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stderr).toContain('cut short');
    const { clear } = await recording(K1, []); // all three appends, no markers
    expect(readFileSync(join(dir, 'b.wav')).equals(clear)).toBe(true);
  }, 30_000);

  it('exit 1 for a key not configured, a file that is not sealed, or an output that exists (left as it was)', async () => {
    const { dir, sealed } = await recording(K1);
    const missing = await decrypt([sealed, join(dir, 'x.wav')], { ENCRYPTION_KEY: K2 });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('VL_ERR_ENCRYPTION_KEY');
    expect(missing.stderr).toContain('"k1"');
    expect(existsSync(join(dir, 'x.wav'))).toBe(false);

    const wav = join(dir, 'plain.wav');
    writeFileSync(wav, Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(100)]));
    const plain = await decrypt([wav, join(dir, 'y.wav')], { ENCRYPTION_KEY: K1 });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('VL_ERR_DECRYPTION');

    const taken = join(dir, 'taken.wav');
    writeFileSync(taken, 'mine');
    const exists = await decrypt([sealed, taken], { ENCRYPTION_KEY: K1 });
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('exists: not overwritten');
    expect(readFileSync(taken, 'utf8')).toBe('mine');
  }, 30_000);

  it('exit 2 for bad usage or keys, naming the problem without the key', async () => {
    const usage = await decrypt(['only-one'], { ENCRYPTION_KEY: K1 });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: npm run recording:decrypt');
    const unset = await decrypt(['a', 'b']);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('ENCRYPTION_KEY is not set');
    const bad = await decrypt(['a', 'b'], { ENCRYPTION_KEY: 'k1:c2hvcnQ=' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ENCRYPTION_KEY: key "k1" must be 32 bytes');
    expect(bad.stderr).not.toContain('c2hvcnQ=');
  }, 30_000);
});
