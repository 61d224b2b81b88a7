import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptionConfigFrom } from '../../src/crypto/encryption-config.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { open, seal } from '../../src/crypto/sealed-box.js';
import { isVoxlineError } from '../../src/errors.js';

const keyValue = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

function keyring(current: string, ...retired: string[]): Keyring {
  const { value, problems } = encryptionConfigFrom({
    ENCRYPTION_KEY: current,
    ...(retired.length > 0 ? { ENCRYPTION_RETIRED_KEYS: retired.join(',') } : {}),
  });
  expect(problems).toEqual([]);
  return new Keyring(value as NonNullable<typeof value>);
}

describe('ENCRYPTION_KEY', () => {
  it('is off when unset, and takes id:base64 of 32 bytes', () => {
    expect(encryptionConfigFrom({})).toEqual({ value: undefined, problems: [], warnings: [] });
    const good = keyValue('k1');
    expect(encryptionConfigFrom({ ENCRYPTION_KEY: good }).value?.current.id).toBe('k1');
  });

  it('refuses a malformed key without showing its bytes', () => {
    const short = `k1:${randomBytes(16).toString('base64')}`;
    for (const bad of [short, randomBytes(32).toString('base64'), 'bad id:AAAA', 'k1:not base64!']) {
      const { value, problems } = encryptionConfigFrom({ ENCRYPTION_KEY: bad });
      expect(value).toBeUndefined();
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^ENCRYPTION_KEY: /);
      expect(problems[0]).not.toContain(bad.slice(bad.indexOf(':') + 1));
    }
  });

  it('refuses retired keys without a current one, and an id given twice', () => {
    expect(encryptionConfigFrom({ ENCRYPTION_RETIRED_KEYS: keyValue('old') }).problems).toEqual([
      'ENCRYPTION_RETIRED_KEYS is set without ENCRYPTION_KEY: set the current key too',
    ]);
    expect(
      encryptionConfigFrom({ ENCRYPTION_KEY: keyValue('k1'), ENCRYPTION_RETIRED_KEYS: keyValue('k1') })
        .problems,
    ).toEqual(['ENCRYPTION_RETIRED_KEYS: key id "k1" is given twice']);
  });
});

describe('Keyring', () => {
  it('wraps a fresh data key per use under the current master key, recording its id', () => {
    const ring = keyring(keyValue('k2'));
    const a = ring.newDataKey('call:CA1');
    const b = ring.newDataKey('call:CA1');
    expect(a.key.equals(b.key)).toBe(false);
    expect(Keyring.keyIdOf(a.wrapped)).toBe('k2');
    expect(ring.unwrap(a.wrapped, 'call:CA1').equals(a.key)).toBe(true);
    expect(a.wrapped.includes(a.key)).toBe(false);
  });

  it('does not unwrap a key moved to another context, or changed by one bit', () => {
    const ring = keyring(keyValue('k1'));
    const { wrapped } = ring.newDataKey('call:CA1');
    expect(() => ring.unwrap(wrapped, 'call:CA2')).toThrow(/did not authenticate/);
    const flipped = Buffer.from(wrapped);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(() => ring.unwrap(flipped, 'call:CA1')).toThrow(/did not authenticate/);
  });

  it('after a rotation, opens what the retired key wrapped and wraps new keys under the new one', () => {
    const old = keyValue('k1');
    const before = keyring(old).newDataKey('rec:CA1');
    const rotated = keyring(keyValue('k2'), old);
    expect(rotated.unwrap(before.wrapped, 'rec:CA1').equals(before.key)).toBe(true);
    expect(Keyring.keyIdOf(rotated.newDataKey('rec:CA2').wrapped)).toBe('k2');
    // Without the retired key: a typed error naming the id.
    try {
      keyring(keyValue('k2')).unwrap(before.wrapped, 'rec:CA1');
      expect.unreachable();
    } catch (err) {
      expect(isVoxlineError(err, 'VL_ERR_ENCRYPTION_KEY')).toBe(true);
      expect(String(err)).toContain('"k1"');
    }
  });
});

describe('seal / open', () => {
  it('round-trips, and is bound to its aad', () => {
    const key = randomBytes(32);
    const text = Buffer.from('four one one one');
    const box = seal(key, text, Buffer.from('row 1'));
    expect(box.includes(text)).toBe(false);
    expect(open(key, box, Buffer.from('row 1')).equals(text)).toBe(true);
    expect(() => open(key, box, Buffer.from('row 2'))).toThrow(/did not authenticate/);
    expect(() => open(key, box.subarray(0, 10), Buffer.from('row 1'))).toThrow(/too short/);
  });
});
