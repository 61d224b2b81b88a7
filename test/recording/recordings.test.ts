import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Recordings } from '../../src/recording/recordings.js';
import { eventually } from '../helpers/gateway.js';

describe('recording retention', () => {
  it('deletes recordings older than the retention and keeps the rest', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'voxline-retention-'));
    const recordings = new Recordings(dataDir, 'mulaw', 24, pino({ level: 'silent' }), () => undefined);
    const old = join(recordings.dir, 'CAold.wav');
    writeFileSync(old, 'x');
    writeFileSync(join(recordings.dir, 'CAnew.wav'), 'x');
    const twoDaysAgo = (Date.now() - 48 * 3_600_000) / 1000;
    utimesSync(old, twoDaysAgo, twoDaysAgo);
    recordings.startRetention();
    await eventually(() => expect(readdirSync(recordings.dir)).toEqual(['CAnew.wav']));
    recordings.stop();
  });

  it('never turns a call id that is not a plain token into a path', () => {
    const recordings = new Recordings(
      mkdtempSync(join(tmpdir(), 'voxline-rec-')),
      'mulaw',
      0,
      pino({ level: 'silent' }),
      () => undefined,
    );
    expect(recordings.pathOf('../../etc/passwd')).toBeUndefined();
    expect(recordings.pathOf('CA0123abcd')).toMatch(/recordings\/CA0123abcd\.wav$/);
  });
});
